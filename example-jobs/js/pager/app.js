// `js-pager`: the `pager` example in JavaScript. Processes the items of its
// page, saving a checkpoint every `checkpoint_every` items (default 10), and
// resumes from the last checkpoint an earlier attempt of the same run saved.
//
// Params: `total` (items in the data set, default 1000), `checkpoint_every`,
// and `fail_after` (fail, retryably, on the first attempt after that many
// items of the page). Without a page it processes page 0 with the `page_size`
// param (default 100).

import * as carillon from './carillon.js';

export const run = carillon.job((ctx) => {
  const total = ctx.paramOr('total', 'integer', 1000);
  const every = Math.max(ctx.paramOr('checkpoint_every', 'integer', 10), 1);
  const failAfter = ctx.paramOr('fail_after', 'integer', null);
  const pageIndex = ctx.page ? ctx.page.index : 0;
  const pageSize = ctx.page ? ctx.page.size : ctx.paramOr('page_size', 'integer', 100);
  const first = pageIndex * pageSize;
  const end = Math.min(first + pageSize, total);

  let resumeAt = first;
  const saved = ctx.checkpointText();
  if (saved !== null) {
    if (!/^\d+$/.test(saved)) {
      throw carillon.JobError.fatal('checkpoint is not an item number; was it saved by another job?');
    }
    resumeAt = Number.parseInt(saved, 10);
  }
  if (resumeAt !== first) carillon.info(`resuming page ${pageIndex} from checkpoint`, { item: resumeAt });

  let position = Math.max(resumeAt, first);
  let processed = 0;
  while (position < end) {
    // "Process" the item; a real job would read and write its data here.
    position += 1;
    processed += 1;
    if (processed % every === 0 || position === end) carillon.saveCheckpoint(position);
    if (ctx.attempt === 1 && failAfter === processed) {
      throw carillon.JobError.retryable(`failing on purpose after ${processed} items (param \`fail_after\`)`);
    }
  }
  carillon.info(`page ${pageIndex} done`, { first, end, processed });
  return {
    items: processed,
    summary: `page ${pageIndex}: items [${first}, ${end}), ${processed} processed this attempt`,
  };
});
