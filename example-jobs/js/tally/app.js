// `js-tally`: `order-tally` in JavaScript. Pages through the `orders` table of
// the granted database (param `database`, default `shop`) in batches keyed by
// id, checkpointing the last id and the running total after each batch, and
// resumes from the checkpoint on a retry.

import * as carillon from './carillon.js';

export const run = carillon.job((ctx) => {
  const database = ctx.paramOr('database', 'string', 'shop');
  const batch = ctx.paramOr('batch', 'integer', 100);
  let [lastId, orders, total] = (ctx.checkpointText() ?? '0,0,0').split(',').map(Number);
  for (;;) {
    const rows = carillon.sql.query(
      database,
      'SELECT id, amount FROM orders WHERE id > $1 ORDER BY id LIMIT $2',
      lastId,
      batch,
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      lastId = row.id;
      orders += 1;
      total += row.amount;
    }
    carillon.saveCheckpoint(`${lastId},${orders},${total}`);
  }
  return { items: orders, summary: `${orders} orders, total ${total}` };
});
