"""The typed syntax tree of a formula: frozen dataclasses, each node located."""

from __future__ import annotations

from dataclasses import dataclass

from batchflow.emulator.autoscale.errors import Position


@dataclass(frozen=True)
class Number:
    value: float
    position: Position


@dataclass(frozen=True)
class String:
    value: str
    position: Position


@dataclass(frozen=True)
class Name:
    """A variable or constant as written (``$PendingTasks``, ``total``, ``TimeInterval_Hour``)."""

    name: str
    position: Position


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Expr
    position: Position


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    position: Position


@dataclass(frozen=True)
class Ternary:
    condition: Expr
    then: Expr
    otherwise: Expr
    position: Position


@dataclass(frozen=True)
class Call:
    """A built-in function call: ``avg($PendingTasks.GetSample(1), 3)``."""

    function: str
    args: tuple[Expr, ...]
    position: Position


@dataclass(frozen=True)
class Member:
    """A timestamp member: ``$curTime.hour``."""

    target: Expr
    name: str
    position: Position


@dataclass(frozen=True)
class MethodCall:
    """A sample method on a service variable: ``$CPUPercent.GetSample(TimeInterval_Minute)``."""

    target: Name
    method: str
    args: tuple[Expr, ...]
    position: Position


Expr = Number | String | Name | Unary | Binary | Ternary | Call | Member | MethodCall


@dataclass(frozen=True)
class Assign:
    name: str
    value: Expr
    position: Position


@dataclass(frozen=True)
class ExprStatement:
    """A bare expression, e.g. ``stop();``."""

    value: Expr
    position: Position


Statement = Assign | ExprStatement


@dataclass(frozen=True)
class Program:
    statements: tuple[Statement, ...]
