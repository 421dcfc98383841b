// `js-hello`: the `hello` example in JavaScript. Logs the context it was given
// and counts its runs in the task's state; param `fail_with` throws, to show
// the run failing with it. Build: `scripts/build-examples.sh`.

import * as carillon from './carillon.js';

export const run = carillon.job((ctx) => {
  carillon.info(`hello from shard ${ctx.shard.index} of ${ctx.shard.total}`, {
    task: ctx.task,
    group: ctx.group,
    run_id: ctx.runId,
    attempt: ctx.attempt,
  });
  if (ctx.shard.parameter !== null) carillon.info(`shard parameter: ${ctx.shard.parameter}`);
  for (const [key, value] of ctx.params) carillon.info(`param ${key}`, { value });
  const name = ctx.paramOr('name', 'string', 'world');
  const failure = ctx.paramStr('fail_with');
  // Anything thrown fails the run (retryably), with its message.
  if (failure !== undefined) throw new TypeError(failure);
  const runs = Number.parseInt(carillon.state.getString('runs') ?? '0', 10) + 1;
  carillon.state.set('runs', runs);
  return { items: 1, summary: `said hello to ${name} (run ${runs} of this task)` };
});
