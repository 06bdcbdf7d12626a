"""The public face: ``compile_formula(text) -> Formula``; ``Formula.evaluate(env, now)``."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batchflow.emulator.autoscale.environment import AutoscaleEnvironment
from batchflow.emulator.autoscale.errors import (
    AutoscaleRunError,
    EvaluationFailure,
    Position,
    evaluation_failed,
    too_long,
)
from batchflow.emulator.autoscale.evaluate import Compiler, Frame, read_settable
from batchflow.emulator.autoscale.functions import StopEvaluation
from batchflow.emulator.autoscale.lexer import tokenize
from batchflow.emulator.autoscale.names import Settable
from batchflow.emulator.autoscale.parser import parse
from batchflow.emulator.autoscale.values import DeallocationOption, format_timestamp, format_value

MAX_FORMULA_LENGTH = 8192  # AutoScaleFormulaTooLong: "The maximum length is 8192 characters."
MAX_NODES = 2**31 - 1
_RESULT_HEAD = (
    Settable.TARGET_DEDICATED,
    Settable.TARGET_LOW_PRIORITY,
    Settable.NODE_DEALLOCATION_OPTION,
)


@dataclass(frozen=True)
class AutoscaleTargets:
    """What a successful evaluation asks of the pool."""

    dedicated_nodes: int
    low_priority_nodes: int
    node_deallocation_option: DeallocationOption


@dataclass(frozen=True)
class AutoscaleRun:
    """``autoScaleRun``: when, the ``results`` string, the ``error``; ``targets`` unless error.

    On an error the service leaves the pool as it is, so ``targets`` is None then; ``results``
    still lists the values reached before the failure, as the service's example shows.
    """

    timestamp: _dt.datetime
    results: str
    error: AutoscaleRunError | None
    targets: AutoscaleTargets | None

    def to_wire(self) -> dict[str, Any]:
        """The REST ``AutoScaleRun`` JSON object."""
        body: dict[str, Any] = {
            "timestamp": format_timestamp(self.timestamp),
            "results": self.results,
        }
        if self.error is not None:
            body["error"] = {
                "code": self.error.code,
                "message": self.error.message,
                "values": [{"name": n, "value": v} for n, v in self.error.values],
            }
        return body


@dataclass(frozen=True)
class Formula:
    """A compiled formula; evaluate it as often as wanted (it holds no evaluation state)."""

    text: str
    _statements: tuple[Callable[[Frame], None], ...]
    _user_variables: tuple[str, ...]

    def evaluate(self, env: AutoscaleEnvironment, now: _dt.datetime) -> AutoscaleRun:
        """Run every statement against ``env`` at ``now`` (UTC if naive)."""
        if now.tzinfo is None:
            now = now.replace(tzinfo=_dt.timezone.utc)
        frame = _initial_frame(env, now)
        error: AutoscaleRunError | None = None
        try:
            for statement in self._statements:
                statement(frame)
        except StopEvaluation:
            pass
        except EvaluationFailure as failure:
            error = failure.error
        targets = None
        if error is None:
            targets, error = _targets(frame)
        return AutoscaleRun(now, self._results(frame), error, targets)

    def _results(self, frame: Frame) -> str:
        parts = [f"{s.value}={format_value(read_settable(frame, s))}" for s in _RESULT_HEAD]
        for key in self._user_variables:
            if key in frame.variables:
                parts.append(f"${key}={format_value(frame.variables[key])}")
        return ";".join(parts)


def _initial_frame(env: AutoscaleEnvironment, now: _dt.datetime) -> Frame:
    frame = Frame(env, now, now.timestamp())
    dedicated, low = float(env.target_dedicated_nodes), float(env.target_low_priority_nodes)
    frame.variables.update(
        {
            Settable.TARGET_DEDICATED.value: dedicated,
            Settable.TARGET_DEDICATED_ALIAS.value: dedicated,
            Settable.TARGET_LOW_PRIORITY.value: low,
            Settable.TARGET_LOW_PRIORITY_ALIAS.value: low,
            Settable.NODE_DEALLOCATION_OPTION.value: env.node_deallocation_option.value,
        }
    )
    return frame


def _node_count(frame: Frame, which: Settable) -> int:
    """Truncated toward zero and clamped to [0, 2^31-1]; NaN fails the evaluation."""
    value = read_settable(frame, which)
    assert isinstance(value, float)
    if math.isnan(value):
        raise evaluation_failed(f"{which.value} is not a number", Position(1, 1))
    return int(min(max(value, 0.0), float(MAX_NODES)))


def _targets(frame: Frame) -> tuple[AutoscaleTargets | None, AutoscaleRunError | None]:
    try:
        dedicated = _node_count(frame, Settable.TARGET_DEDICATED)
        low = _node_count(frame, Settable.TARGET_LOW_PRIORITY)
    except EvaluationFailure as failure:
        return None, failure.error
    option = read_settable(frame, Settable.NODE_DEALLOCATION_OPTION)
    return AutoscaleTargets(dedicated, low, DeallocationOption(option)), None


def compile_formula(text: str) -> Formula:
    """Parse and type-check ``text``; raises ``FormulaError`` (code, message, position)."""
    if len(text) > MAX_FORMULA_LENGTH:
        raise too_long(
            f"The formula has {len(text)} characters; at most {MAX_FORMULA_LENGTH} are allowed"
        )
    program = parse(tokenize(text))
    compiler = Compiler()
    statements = tuple(compiler.statement(statement) for statement in program.statements)
    settable = {s.value for s in Settable}
    users = sorted((k for k in compiler.types if k not in settable), key=lambda k: (k.lower(), k))
    return Formula(text, statements, tuple(users))
