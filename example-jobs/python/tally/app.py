"""`python-tally`: `order-tally` in Python. Pages through the `orders` table
of the granted database (param `database`, default `shop`) in batches keyed
by id, checkpointing the last id and the running total after each batch, and
resumes from the checkpoint on a retry."""

import carillon


def run(ctx: carillon.Context) -> carillon.Outcome:
    database = ctx.param_or("database", str, "shop")
    batch = ctx.param_or("batch", int, 100)
    last_id, orders, total = 0, 0, 0
    if ctx.checkpoint is not None:
        last_id, orders, total = (int(part) for part in ctx.checkpoint_text().split(","))
    while True:
        rows = carillon.sql.query(
            database,
            "SELECT id, amount FROM orders WHERE id > $1 ORDER BY id LIMIT $2",
            last_id,
            batch,
        )
        if not rows:
            break
        for row in rows:
            last_id, orders, total = row["id"], orders + 1, total + row["amount"]
        carillon.save_checkpoint(f"{last_id},{orders},{total}")
    return carillon.Outcome(items=orders, summary=f"{orders} orders, total {total}")


WitWorld = carillon.job(run)
