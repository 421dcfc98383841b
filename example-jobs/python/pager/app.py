"""`python-pager`: the `pager` example in Python. Processes the items of its
page, saving a checkpoint every `checkpoint_every` items (default 10), and
resumes from the last checkpoint an earlier attempt of the same run saved.

Params: `total` (items in the data set, default 1000), `checkpoint_every`, and
`fail_after` (fail, retryably, on the first attempt after that many items of
the page). Without a page it processes page 0 with the `page_size` param
(default 100)."""

import carillon


def run(ctx: carillon.Context) -> carillon.Outcome:
    total = ctx.param_or("total", int, 1000)
    every = max(ctx.param_or("checkpoint_every", int, 10), 1)
    fail_after = ctx.param_or("fail_after", int, None)
    if ctx.page is not None:
        page_index, page_size = ctx.page.index, ctx.page.size
    else:
        page_index, page_size = 0, ctx.param_or("page_size", int, 100)
    first = page_index * page_size
    end = min(first + page_size, total)

    resume_at = first
    if ctx.checkpoint is not None:
        text = ctx.checkpoint_text()
        if not text.isdigit():
            raise carillon.JobError.fatal(
                "checkpoint is not an item number; was it saved by another job?"
            )
        resume_at = int(text)
    if resume_at != first:
        carillon.info(f"resuming page {page_index} from checkpoint", item=resume_at)

    position = max(resume_at, first)
    processed = 0
    while position < end:
        # "Process" the item; a real job would read and write its data here.
        position += 1
        processed += 1
        if processed % every == 0 or position == end:
            carillon.save_checkpoint(position)
        if ctx.attempt == 1 and fail_after == processed:
            raise carillon.JobError.retryable(
                f"failing on purpose after {processed} items (param `fail_after`)"
            )
    carillon.info(f"page {page_index} done", first=first, end=end, processed=processed)
    return carillon.Outcome(
        items=processed,
        summary=f"page {page_index}: items [{first}, {end}), {processed} processed this attempt",
    )


WitWorld = carillon.job(run)
