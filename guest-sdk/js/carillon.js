// Carillon's guest helpers for jobs written in JavaScript.
//
// What the Rust SDK (`carillon-guest`) gives a Rust job, for a job built with
// ComponentizeJS against `wit/job.wit`:
//
//     import * as carillon from './carillon.js';
//
//     export const run = carillon.job((ctx) => {
//       const name = ctx.paramOr('name', 'string', 'world');
//       carillon.info('hello', { name });
//       return { items: 1, summary: `said hello to ${name}` };
//     });
//
// - `Context`: the run's task, group, ids, shard, page and checkpoint, and typed
//   params whose errors read as the Rust SDK's (param `batch`: expected integer,
//   got `abc`), which fail the run without a retry.
// - `trace` … `error`: log lines with key/value fields.
// - `saveCheckpoint`, `cancelled`, `state`: the host calls, with bytes or text.
// - `setOutput(key, value)`: a value handed on to the tasks chained after this
//   one (`parent.output.KEY`) and the workflow steps after it (`${STEP.KEY}`).
// - `sql.query(database, statement, ...params)` (rows as objects) and
//   `sql.execute(...)` (rows affected): parameterised SQL on the databases the
//   task is granted.
// - `JobError.retryable(...)` / `JobError.fatal(...)`: a failure the job chose.
//   Anything else thrown fails the run as retryable, with its message, as `?`
//   does for a Rust error.

import { log } from 'carillon:job/log@0.3.0';
import { save } from 'carillon:job/checkpoint@0.3.0';
import { cancelled as hostCancelled } from 'carillon:job/cancel@0.3.0';
import * as hostState from 'carillon:job/state@0.3.0';
import * as hostSql from 'carillon:job/sql@0.3.0';
import { set as hostSetOutput } from 'carillon:job/output@0.3.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Why a run failed, and whether running it again may help. */
export class JobError extends Error {
  constructor(message, retryable = true) {
    super(message);
    this.name = 'JobError';
    this.retryable = retryable;
  }
  /** A failure that running the shard again may fix (a flaky dependency). */
  static retryable(message) {
    return new JobError(message, true);
  }
  /** A failure that retrying cannot fix (bad input, a bug). */
  static fatal(message) {
    return new JobError(message, false);
  }
}

/** A param that is missing or does not parse as the type asked for. */
export class ParamError extends JobError {
  constructor(name, expected, got) {
    super(
      got === undefined
        ? `param \`${name}\`: expected ${expected}, but the param is not set`
        : `param \`${name}\`: expected ${expected}, got \`${got}\``,
      false,
    );
    this.name = 'ParamError';
    this.param = name;
  }
}

function hostError(operation, error) {
  const message = error && error.payload !== undefined ? error.payload : String(error);
  return new JobError(`${operation}: ${message}`, true);
}

const parsers = {
  string: (text) => text,
  // As Rust parses: sign and digits; beyond 2^53 a number would be wrong.
  integer: (text) => {
    const value = /^[+-]?\d+$/.test(text.trim()) ? Number.parseInt(text.trim(), 10) : undefined;
    return Number.isSafeInteger(value) ? value : undefined;
  },
  number: (text) =>
    /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text.trim()) ? Number(text.trim()) : undefined,
  boolean: (text) => ({ true: true, false: false })[text.trim()],
  json: (text) => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  },
};

/** Everything the host tells a job about the run it is doing. */
export class Context {
  constructor(inner) {
    this.task = inner.task;
    this.group = inner.group;
    this.runId = inner.runId;
    this.attempt = inner.attempt;
    this.scheduledAtMs = Number(inner.scheduledAt);
    this.firedAtMs = Number(inner.firedAt);
    this.shard = {
      index: inner.shard.index,
      total: inner.shard.total,
      parameter: inner.shard.parameter ?? null,
    };
    this.page = inner.page
      ? { index: Number(inner.page.index), size: inner.page.size, offset: Number(inner.page.index) * inner.page.size }
      : null;
    this.checkpoint = inner.checkpoint ?? null;
    this.params = new Map(inner.params);
  }

  /** The raw text of param `name`, or undefined. */
  paramStr(name) {
    return this.params.get(name);
  }

  /** Param `name` parsed as `kind` ('string', 'integer', 'number', 'boolean', 'json');
   * throws a ParamError naming the param, the type and the text it got. */
  param(name, kind = 'string') {
    const parse = parsers[kind];
    if (!parse) {
      throw JobError.fatal(`param kind \`${kind}\` is unknown; use one of ${Object.keys(parsers).join(', ')}`);
    }
    const text = this.params.get(name);
    if (text === undefined) throw new ParamError(name, kind, undefined);
    const value = parse(text);
    if (value === undefined) throw new ParamError(name, kind, text);
    return value;
  }

  /** Param `name` parsed as `kind`, or `fallback` when it is not set. A param
   * that is set but does not parse is still an error. */
  paramOr(name, kind, fallback) {
    return this.params.has(name) ? this.param(name, kind) : fallback;
  }

  /** The last checkpoint as text, or null. */
  checkpointText() {
    return this.checkpoint === null ? null : decoder.decode(this.checkpoint);
  }
}

function write(level, message, fields = {}) {
  log(level, String(message), Object.entries(fields).map(([k, v]) => [String(k), String(v)]));
}
export const trace = (message, fields) => write('trace', message, fields);
export const debug = (message, fields) => write('debug', message, fields);
export const info = (message, fields) => write('info', message, fields);
export const warn = (message, fields) => write('warn', message, fields);
export const error = (message, fields) => write('error', message, fields);

const bytes = (value) => (value instanceof Uint8Array ? value : encoder.encode(String(value)));

/** Durably save progress (bytes, or text) for this shard run. */
export function saveCheckpoint(data) {
  try {
    save(bytes(data));
  } catch (e) {
    throw hostError('saving checkpoint', e);
  }
}

/** True once the host wants this run to stop: save a checkpoint and return. */
export const cancelled = () => hostCancelled();

/** Hand `value` (text) on under `key` to what follows this run. */
export function setOutput(key, value) {
  try {
    hostSetOutput(key, String(value));
  } catch (e) {
    throw hostError('setting an output', e);
  }
}

/** The per-task key/value store, kept between runs. */
export const state = {
  get(key) {
    try {
      return hostState.get(key) ?? null;
    } catch (e) {
      throw hostError('reading task state', e);
    }
  },
  getString(key) {
    const value = this.get(key);
    return value === null ? null : decoder.decode(value);
  },
  set(key, value) {
    try {
      hostState.set(key, bytes(value));
    } catch (e) {
      throw hostError('writing task state', e);
    }
  },
  delete(key) {
    try {
      hostState.delete(key);
    } catch (e) {
      throw hostError('deleting task state', e);
    }
  },
};

function toSql(value, index) {
  if (value === null || value === undefined) return { tag: 'null' };
  if (typeof value === 'boolean') return { tag: 'boolean', val: value };
  if (typeof value === 'bigint') return { tag: 'integer', val: value };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { tag: 'integer', val: BigInt(value) } : { tag: 'real', val: value };
  }
  if (typeof value === 'string') return { tag: 'text', val: value };
  if (value instanceof Uint8Array) return { tag: 'blob', val: value };
  throw JobError.retryable(
    `parameter $${index + 1}: a ${typeof value} cannot be sent to SQL (use null, boolean, number, bigint, string or Uint8Array)`,
  );
}

function fromSql(value) {
  if (value.tag === 'null') return null;
  // Integers beyond 2^53 stay BigInt; the rest become plain numbers.
  if (value.tag === 'integer') {
    const big = value.val;
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
  return value.val;
}

/** Parameterised SQL on the databases the task is granted. */
export const sql = {
  /** The rows of `statement`, with `params` bound to $1, $2…, as objects. */
  query(database, statement, ...params) {
    let rows;
    try {
      rows = hostSql.query(database, statement, params.map(toSql));
    } catch (e) {
      throw hostError(`query on database \`${database}\``, e);
    }
    return rows.rows.map((row) => {
      const values = {};
      // A name twice (`SELECT a.id, b.id`): the first, as in Rust.
      row.forEach((value, i) => {
        if (!Object.hasOwn(values, rows.columns[i])) values[rows.columns[i]] = fromSql(value);
      });
      return values;
    });
  },
  /** Runs `statement` with `params` bound; the rows it affected. */
  execute(database, statement, ...params) {
    try {
      return Number(hostSql.execute(database, statement, params.map(toSql)));
    } catch (e) {
      throw hostError(`statement on database \`${database}\``, e);
    }
  },
};

/** The `run` export, calling `fn(ctx)` once per run. `fn` returns
 * `{ items, summary }` (or nothing: success with nothing to report). A
 * JobError fails the run as it says; anything else thrown fails it as
 * retryable, with its message. */
export function job(fn) {
  return function run(inner) {
    try {
      const outcome = fn(new Context(inner)) ?? {};
      const items = outcome.items ?? 0;
      if (!Number.isSafeInteger(Number(items)) || Number(items) < 0) {
        throw JobError.fatal(`the job reported ${items} items; items must be a whole number, 0 or more`);
      }
      const summary = outcome.summary === undefined || outcome.summary === null ? undefined : String(outcome.summary);
      return { summary, items: BigInt(items) };
    } catch (e) {
      if (e instanceof JobError) throw { message: e.message, retryable: e.retryable };
      const message = e instanceof Error ? `${e.name}: ${e.message}` : `thrown: ${String(e)}`;
      throw { message, retryable: true };
    }
  };
}
