"""Carillon's guest helpers for jobs written in Python.

What the Rust SDK (`carillon-guest`) gives a Rust job, for a job built with
componentize-py against `wit/job.wit`:

    import carillon

    def run(ctx: carillon.Context) -> carillon.Outcome:
        name = ctx.param_or("name", str, "world")
        carillon.info("hello", name=name)
        return carillon.Outcome(items=1, summary=f"said hello to {name}")

    WitWorld = carillon.job(run)

- `Context`: the run's task, group, ids, shard, page and checkpoint, and typed
  params whose errors read as the Rust SDK's (``param `batch`: expected int, got
  `abc```), which fail the run without a retry.
- `trace` … `error`: log lines with key/value fields.
- `save_checkpoint`, `cancelled`, `state`: the host calls, with bytes or text.
- `set_output(key, value)`: a value handed on to the tasks chained after this
  one (`parent.output.KEY`) and the workflow steps after it (`${STEP.KEY}`).
- `sql.query(database, statement, *params)` (rows as dicts) and
  `sql.execute(...)` (rows affected): parameterised SQL on the databases the
  task is granted.
- `JobError.retryable(...)` / `JobError.fatal(...)`: a failure the job chose.
  Any other exception fails the run as retryable, with its type and message, as
  `?` does for a Rust error.
"""

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Tuple, Type, TypeVar

from componentize_py_types import Err
from wit_world.imports import cancel as _cancel
from wit_world.imports import checkpoint as _checkpoint
from wit_world.imports import log as _log
from wit_world.imports import output as _output
from wit_world.imports import sql as _sql
from wit_world.imports import state as _state
from wit_world.imports import types as _types

T = TypeVar("T")


class JobError(Exception):
    """Why a run failed, and whether running it again may help."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.message = message
        self.is_retryable = retryable

    @staticmethod
    def retryable(message: str) -> "JobError":
        """A failure that running the shard again may fix (a flaky dependency)."""
        return JobError(message, True)

    @staticmethod
    def fatal(message: str) -> "JobError":
        """A failure that retrying cannot fix (bad input, a bug)."""
        return JobError(message, False)


class ParamError(JobError):
    """A param that is missing or does not parse as the type asked for."""

    def __init__(self, name: str, expected: str, got: Optional[str]):
        if got is None:
            text = f"param `{name}`: expected {expected}, but the param is not set"
        else:
            text = f"param `{name}`: expected {expected}, got `{got}`"
        super().__init__(text, retryable=False)
        self.name = name


class HostError(JobError):
    """A host call (checkpoint, state) that failed; retryable."""

    def __init__(self, operation: str, message: str):
        super().__init__(f"{operation}: {message}", retryable=True)


@dataclass(frozen=True)
class Shard:
    """The slice of the task's work this run owns."""

    index: int
    total: int
    parameter: Optional[str]


@dataclass(frozen=True)
class Page:
    """The page of a paged task this run must process."""

    index: int
    size: int

    @property
    def offset(self) -> int:
        """The first item offset of this page (`index * size`)."""
        return self.index * self.size


@dataclass
class Outcome:
    """A successful run's report: an item count and an optional summary line."""

    items: int = 0
    summary: Optional[str] = None


def _parse_bool(text: str) -> bool:
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(text)


def _parse_int(text: str) -> int:
    # As Rust parses: optional sign and digits (no `_`, no spaces inside).
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(text)
    return int(text)


def _parse_float(text: str) -> float:
    if "_" in text:
        raise ValueError(text)
    return float(text)


_PARSERS = {bool: _parse_bool, int: _parse_int, float: _parse_float}


class Context:
    """Everything the host tells a job about the run it is doing."""

    def __init__(self, inner: _types.Context):
        self._inner = inner
        self._params = dict(inner.params)
        self.task: str = inner.task
        self.group: str = inner.group
        self.run_id: int = inner.run_id
        self.attempt: int = inner.attempt
        self.scheduled_at_ms: int = inner.scheduled_at
        self.fired_at_ms: int = inner.fired_at
        self.shard = Shard(inner.shard.index, inner.shard.total, inner.shard.parameter)
        self.page: Optional[Page] = (
            Page(inner.page.index, inner.page.size) if inner.page is not None else None
        )
        self.checkpoint: Optional[bytes] = inner.checkpoint

    def params(self) -> Iterator[Tuple[str, str]]:
        """All params (task params merged with per-fire params), in key order."""
        return iter(self._inner.params)

    def param_str(self, name: str) -> Optional[str]:
        """The raw text of param `name`, if set."""
        return self._params.get(name)

    def param(self, name: str, kind: Type[T] = str) -> T:
        """Param `name` parsed as `kind` (str, int, float, bool).

        Raises a ParamError naming the param, the type and the text it got, or
        saying it is missing; the run then fails without a retry.
        """
        text = self._params.get(name)
        if text is None:
            raise ParamError(name, kind.__name__, None)
        if kind is str:
            return text  # type: ignore[return-value]
        try:
            parse = _PARSERS.get(kind, kind)
            return parse(text.strip())  # type: ignore[return-value]
        except (TypeError, ValueError):
            raise ParamError(name, kind.__name__, text) from None

    def param_or(self, name: str, kind: Type[T], default: T) -> T:
        """Param `name` parsed as `kind`, or `default` when it is not set.
        A param that is set but does not parse is still an error."""
        if name not in self._params:
            return default
        return self.param(name, kind)

    def checkpoint_text(self) -> Optional[str]:
        """The last checkpoint as UTF-8 text, if any."""
        if self.checkpoint is None:
            return None
        return self.checkpoint.decode("utf-8", errors="replace")


def _write(level: _log.Level, message: str, fields: dict) -> None:
    _log.log(level, str(message), [(str(k), str(v)) for k, v in fields.items()])


def trace(message: str, **fields: Any) -> None:
    _write(_log.Level.TRACE, message, fields)


def debug(message: str, **fields: Any) -> None:
    _write(_log.Level.DEBUG, message, fields)


def info(message: str, **fields: Any) -> None:
    _write(_log.Level.INFO, message, fields)


def warn(message: str, **fields: Any) -> None:
    _write(_log.Level.WARN, message, fields)


def error(message: str, **fields: Any) -> None:
    _write(_log.Level.ERROR, message, fields)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8")


def save_checkpoint(data: Any) -> None:
    """Durably save progress (bytes, or text) for this shard run."""
    try:
        _checkpoint.save(_bytes(data))
    except Err as err:
        raise HostError("saving checkpoint", str(err.value)) from None


def cancelled() -> bool:
    """True once the host wants this run to stop: save a checkpoint and return."""
    return _cancel.cancelled()


def set_output(key: str, value: Any) -> None:
    """Hand `value` (text) on under `key` to what follows this run."""
    try:
        _output.set(key, str(value))
    except Err as err:
        raise HostError("setting an output", str(err.value)) from None


class _TaskState:
    """The per-task key/value store, kept between runs."""

    def get(self, key: str) -> Optional[bytes]:
        try:
            return _state.get(key)
        except Err as err:
            raise HostError("reading task state", str(err.value)) from None

    def get_string(self, key: str) -> Optional[str]:
        value = self.get(key)
        return None if value is None else value.decode("utf-8", errors="replace")

    def set(self, key: str, value: Any) -> None:
        try:
            _state.set(key, _bytes(value))
        except Err as err:
            raise HostError("writing task state", str(err.value)) from None

    def delete(self, key: str) -> None:
        try:
            _state.delete(key)
        except Err as err:
            raise HostError("deleting task state", str(err.value)) from None


state = _TaskState()


class SqlError(JobError):
    """A statement that failed or was refused; retryable."""

    def __init__(self, message: str):
        super().__init__(message, retryable=True)


def _to_sql(index: int, value: Any) -> Any:
    if value is None:
        return _sql.Value_Null()
    if isinstance(value, bool):
        return _sql.Value_Boolean(value)
    if isinstance(value, int):
        return _sql.Value_Integer(value)
    if isinstance(value, float):
        return _sql.Value_Real(value)
    if isinstance(value, str):
        return _sql.Value_Text(value)
    if isinstance(value, (bytes, bytearray)):
        return _sql.Value_Blob(bytes(value))
    raise SqlError(
        f"parameter ${index + 1}: a {type(value).__name__} cannot be sent to SQL "
        "(use None, bool, int, float, str or bytes)"
    )


def _from_sql(value: Any) -> Any:
    return None if isinstance(value, _sql.Value_Null) else value.value


class _Sql:
    """Parameterised SQL on the databases the task is granted."""

    def query(self, database: str, statement: str, *params: Any) -> list:
        """The rows of `statement`, with `params` bound to $1, $2…, as dicts."""
        values = [_to_sql(i, p) for i, p in enumerate(params)]
        try:
            rows = _sql.query(database, statement, values)
        except Err as err:
            raise SqlError(f"query on database `{database}`: {err.value}") from None
        result = []
        for row in rows.rows:
            values: dict = {}
            # A name twice (`SELECT a.id, b.id`): the first, as in Rust.
            for column, value in zip(rows.columns, row):
                values.setdefault(column, _from_sql(value))
            result.append(values)
        return result

    def execute(self, database: str, statement: str, *params: Any) -> int:
        """Runs `statement` with `params` bound; the rows it affected."""
        values = [_to_sql(i, p) for i, p in enumerate(params)]
        try:
            return _sql.execute(database, statement, values)
        except Err as err:
            raise SqlError(f"statement on database `{database}`: {err.value}") from None


sql = _Sql()


def job(run: Callable[[Context], Optional[Outcome]]) -> type:
    """The `WitWorld` class componentize-py exports, calling `run` once per run.

    `run` returns an Outcome (None counts as success with nothing to report).
    A JobError it raises fails the run as it says; any other exception fails it
    as retryable, with the exception's type and message.
    """

    class WitWorld:
        def run(self, ctx: _types.Context) -> _types.Outcome:
            try:
                outcome = run(Context(ctx))
                if outcome is None:
                    outcome = Outcome()
                if not isinstance(outcome, Outcome):
                    raise JobError.fatal(
                        f"the job returned a {type(outcome).__name__}, not a carillon.Outcome"
                    )
                items = int(outcome.items)
                if items < 0:
                    raise JobError.fatal(f"the job reported {items} items; items cannot be negative")
                summary = None if outcome.summary is None else str(outcome.summary)
                return _types.Outcome(summary=summary, items=items)
            except JobError as failure:
                raise Err(_types.JobError(failure.message, failure.is_retryable))
            except BaseException as failure:  # every exception fails the run, none traps
                message = f"{type(failure).__name__}: {failure}"
                raise Err(_types.JobError(message, True))

    return WitWorld
