"""`python-hello`: the `hello` example in Python. Logs the context it was given
and counts its runs in the task's state; param `fail_with` raises an
exception, to show the run failing with it. Build: `scripts/build-examples.sh`."""

import carillon


def run(ctx: carillon.Context) -> carillon.Outcome:
    carillon.info(
        f"hello from shard {ctx.shard.index} of {ctx.shard.total}",
        task=ctx.task,
        group=ctx.group,
        run_id=ctx.run_id,
        attempt=ctx.attempt,
    )
    if ctx.shard.parameter is not None:
        carillon.info(f"shard parameter: {ctx.shard.parameter}")
    for key, value in ctx.params():
        carillon.info(f"param {key}", value=value)
    name = ctx.param_or("name", str, "world")
    failure = ctx.param_str("fail_with")
    if failure is not None:
        # Any exception fails the run (retryably), with its type and message.
        raise ValueError(failure)
    runs = int(carillon.state.get_string("runs") or "0") + 1
    carillon.state.set("runs", runs)
    return carillon.Outcome(items=1, summary=f"said hello to {name} (run {runs} of this task)")


WitWorld = carillon.job(run)
