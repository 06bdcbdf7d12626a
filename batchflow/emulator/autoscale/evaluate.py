"""Compile a ``Program`` into Python closures, checking every type rule on the way.

Types are static in this language (every function, method and variable has one type at each
point of the formula), so type errors are refused when the formula compiles, located, as
syntax errors; evaluation can then fail only on data (too few samples, an index out of range).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from batchflow.emulator.autoscale import syntax as s
from batchflow.emulator.autoscale.environment import AutoscaleEnvironment
from batchflow.emulator.autoscale.errors import (
    Position,
    evaluation_failed,
    insufficient_samples,
    syntax_error,
)
from batchflow.emulator.autoscale.functions import BUILTINS, CallContext
from batchflow.emulator.autoscale.methods import METHODS
from batchflow.emulator.autoscale.names import (
    ALIAS_OF,
    Constant,
    Settable,
    UserVariable,
    metric_display,
    resolve,
)
from batchflow.emulator.autoscale.operators import BINARY, LOGICAL, UNARY, truthy
from batchflow.emulator.autoscale.samples import Metric
from batchflow.emulator.autoscale.values import Type, Value

MAX_HEIGHT = 200  # a left-deep chain like 1+1+...+1 nests without parentheses


@dataclass
class Frame:
    """The state of one evaluation."""

    env: AutoscaleEnvironment
    now: _dt.datetime
    epoch: float
    variables: dict[str, Value] = field(default_factory=dict)  # user key or Settable.value
    assigned: set[Settable] = field(default_factory=set)


Code = Callable[[Frame], Value]
_TIMESTAMP_MEMBERS = ("year", "month", "day", "weekday", "hour", "minute", "second")
SETTABLE_TYPES = {
    Settable.TARGET_DEDICATED: Type.DOUBLE,
    Settable.TARGET_DEDICATED_ALIAS: Type.DOUBLE,
    Settable.TARGET_LOW_PRIORITY: Type.DOUBLE,
    Settable.TARGET_LOW_PRIORITY_ALIAS: Type.DOUBLE,
    Settable.NODE_DEALLOCATION_OPTION: Type.STRING,
}


def read_settable(frame: Frame, which: Settable) -> Value:
    """A target reads as assigned; the full name wins over its alias when both are set."""
    full = ALIAS_OF.get(which, which)
    aliases = [alias for alias, of in ALIAS_OF.items() if of is full]
    for name in (full, *aliases):
        if name in frame.assigned:
            return frame.variables[name.value]
    return frame.variables[full.value]


def _metric_value(metric: Metric, position: Position) -> Code:
    def code(frame: Frame) -> Value:
        current = frame.env.current.get(metric)
        if current is not None:
            return float(current)
        latest = frame.env.series(metric).last(1)
        if not latest:
            detail = f"Insufficient data from data set: {metric_display(metric)} has no samples"
            raise insufficient_samples(detail, position)
        return latest[0]

    return code


class Compiler:
    """Compiles statements in order, tracking each variable's type as assignments go."""

    def __init__(self) -> None:
        self.types: dict[str, Type] = {s.value: t for s, t in SETTABLE_TYPES.items()}
        self._height = 0

    # --- statements -----------------------------------------------------------------------
    def statement(self, statement: s.Statement) -> Callable[[Frame], None]:
        if isinstance(statement, s.ExprStatement):
            run = self.expression(statement.value)[1]

            def discard(frame: Frame) -> None:
                run(frame)

            return discard
        return self._assignment(statement)

    def _assignment(self, statement: s.Assign) -> Callable[[Frame], None]:
        target = resolve(statement.name)
        kind, code = self.expression(statement.value)
        if isinstance(target, Metric):
            raise syntax_error(f"{metric_display(target)} is read-only", statement.position)
        if isinstance(target, Constant):
            raise syntax_error(f"'{statement.name}' is a constant", statement.position)
        if isinstance(target, Settable):
            return self._assign_settable(target, kind, code, statement.position)
        self.types[target.key] = kind
        key = target.key

        def assign(frame: Frame) -> None:
            frame.variables[key] = code(frame)

        return assign

    def _assign_settable(
        self, target: Settable, kind: Type, code: Code, position: Position
    ) -> Callable[[Frame], None]:
        wanted = SETTABLE_TYPES[target]
        if kind not in (wanted, Type.NEVER):
            raise syntax_error(
                f"{target.value} must be a {wanted.value}, not a {kind.value}", position
            )
        options = {"requeue", "terminate", "taskcompletion", "retaineddata"}
        allowed = ", ".join(sorted(options))

        def assign(frame: Frame) -> None:
            value = code(frame)
            if target is Settable.NODE_DEALLOCATION_OPTION and value not in options:
                detail = f"'{value}' is not a $NodeDeallocationOption ({allowed})"
                raise evaluation_failed(detail, position)
            frame.variables[target.value] = value
            frame.assigned.add(target)

        return assign

    # --- expressions ----------------------------------------------------------------------
    def expression(self, node: s.Expr) -> tuple[Type, Code]:
        self._height += 1
        try:
            if self._height > MAX_HEIGHT:
                raise syntax_error("Expression is too complex", node.position)
            return self._dispatch(node)
        finally:
            self._height -= 1

    def _dispatch(self, node: s.Expr) -> tuple[Type, Code]:
        if isinstance(node, s.Number):
            number = node.value
            return Type.DOUBLE, lambda frame: number
        if isinstance(node, s.String):
            text = node.value
            return Type.STRING, lambda frame: text
        if isinstance(node, s.Name):
            return self._name(node)
        if isinstance(node, s.Unary):
            return self._unary(node)
        if isinstance(node, s.Binary):
            return self._binary(node)
        if isinstance(node, s.Ternary):
            return self._ternary(node)
        if isinstance(node, s.Call):
            return self._call(node)
        if isinstance(node, s.Member):
            return self._member(node)
        return self._method(node)

    def _name(self, node: s.Name) -> tuple[Type, Code]:
        target = resolve(node.name)
        if isinstance(target, Metric):
            return Type.DOUBLE, _metric_value(target, node.position)
        if isinstance(target, Constant):
            value = target.value
            kind = Type.STRING if isinstance(value, str) else Type.INTERVAL
            return kind, lambda frame: value
        if isinstance(target, Settable):
            which = target
            return SETTABLE_TYPES[which], lambda frame: read_settable(frame, which)
        return self._user_variable(target, node.position)

    def _user_variable(self, target: UserVariable, position: Position) -> tuple[Type, Code]:
        if target.key not in self.types:
            raise syntax_error(f"'{target.key}' is used before it is assigned", position)
        key = target.key
        return self.types[key], lambda frame: frame.variables[key]

    def _unary(self, node: s.Unary) -> tuple[Type, Code]:
        kind, operand = self.expression(node.operand)
        fn = UNARY.get((node.op, kind))
        if fn is None:
            raise syntax_error(
                f"Operator '{node.op}' does not apply to a {kind.value}", node.position
            )
        return kind, lambda frame: fn(operand(frame))

    def _binary(self, node: s.Binary) -> tuple[Type, Code]:
        left_type, left = self.expression(node.left)
        right_type, right = self.expression(node.right)
        if node.op in LOGICAL:
            return self._logical(node, left_type, left, right_type, right)
        rule = BINARY.get((node.op, left_type, right_type))
        if rule is None:
            raise syntax_error(
                f"Operator '{node.op}' does not apply to {left_type.value} and {right_type.value}",
                node.position,
            )
        kind, fn = rule
        position = node.position
        return kind, lambda frame: fn(left(frame), right(frame), position)

    def _logical(
        self, node: s.Binary, left_type: Type, left: Code, right_type: Type, right: Code
    ) -> tuple[Type, Code]:
        if left_type is not Type.DOUBLE or right_type is not Type.DOUBLE:
            raise syntax_error(
                f"Operator '{node.op}' does not apply to {left_type.value} and {right_type.value}",
                node.position,
            )
        if node.op == "&&":
            return Type.DOUBLE, lambda f: 1.0 if truthy(left(f)) and truthy(right(f)) else 0.0
        return Type.DOUBLE, lambda f: 1.0 if truthy(left(f)) or truthy(right(f)) else 0.0

    def _ternary(self, node: s.Ternary) -> tuple[Type, Code]:
        cond_type, cond = self.expression(node.condition)
        then_type, then = self.expression(node.then)
        else_type, otherwise = self.expression(node.otherwise)
        if cond_type is not Type.DOUBLE:
            raise syntax_error(
                f"A condition must be a double, not a {cond_type.value}", node.position
            )
        if Type.NEVER not in (then_type, else_type) and then_type is not else_type:
            raise syntax_error(
                f"The branches of '?:' differ: {then_type.value} and {else_type.value}",
                node.position,
            )
        kind = else_type if then_type is Type.NEVER else then_type
        return kind, lambda frame: then(frame) if truthy(cond(frame)) else otherwise(frame)

    def _arguments(self, args: Sequence[s.Expr]) -> tuple[list[Type], list[Code]]:
        compiled = [self.expression(arg) for arg in args]
        return [kind for kind, _ in compiled], [code for _, code in compiled]

    def _call(self, node: s.Call) -> tuple[Type, Code]:
        builtin = BUILTINS.get(node.function)
        if builtin is None:
            raise syntax_error(f"Unknown function '{node.function}'", node.position)
        types, codes = self._arguments(node.args)
        checked = builtin.check(types)
        if isinstance(checked, str):
            raise syntax_error(f"{node.function}() {checked}", node.position)
        impl, position = builtin.impl, node.position

        def call(frame: Frame) -> Value:
            context = CallContext(frame.now, frame.env.rand, position)
            return impl([code(frame) for code in codes], context)

        return checked, call

    def _member(self, node: s.Member) -> tuple[Type, Code]:
        kind, target = self.expression(node.target)
        if kind is not Type.TIMESTAMP or node.name not in _TIMESTAMP_MEMBERS:
            raise syntax_error(f"A {kind.value} has no member '{node.name}'", node.position)
        name = node.name

        def member(frame: Frame) -> Value:
            moment = target(frame)
            assert isinstance(moment, _dt.datetime)
            if name == "weekday":  # .NET DayOfWeek: Sunday 0, Monday 1 (as the docs say)
                return float(moment.isoweekday() % 7)
            return float(getattr(moment, name))

        return Type.DOUBLE, member

    def _method(self, node: s.MethodCall) -> tuple[Type, Code]:
        metric = resolve(node.target.name)
        method = METHODS.get(node.method)
        if not isinstance(metric, Metric) or method is None:
            raise syntax_error(f"'{node.target.name}' has no method '{node.method}'", node.position)
        types, codes = self._arguments(node.args)
        if tuple(types) not in method.signatures:
            shown = ", ".join(t.value for t in types)
            raise syntax_error(f"{node.method}() does not take ({shown})", node.position)
        impl, position = method.impl(metric_display(metric)), node.position

        def call(frame: Frame) -> Value:
            args = [code(frame) for code in codes]
            return impl(frame.env.series(metric), args, frame.epoch, position)

        return method.result, call
