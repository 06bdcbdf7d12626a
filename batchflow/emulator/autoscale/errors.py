"""Errors of the autoscale formula language, shaped as the Batch service reports them.

Two shapes, one per moment:

- ``FormulaError`` (raised by ``compile_formula``): the formula is refused before any
  evaluation, as the service refuses it with a 400 on enable/evaluate.
- ``AutoscaleRunError`` (carried by ``AutoscaleRun.error``): evaluation started and failed,
  as the service reports it in ``autoScaleRun.error``.

Both carry ``values``: ``(("Message", "Line L, Col C: detail"),)`` as the service's
``InsufficientSampleData`` example does. Codes the Batch documentation names are marked below;
the rest are this emulator's own and say so.
"""

from __future__ import annotations

from dataclasses import dataclass

# Documented (Batch status and error codes; BatchErrorCodeStrings in the SDKs).
SYNTAX_ERROR = "AutoScalingFormulaSyntaxError"
SYNTAX_ERROR_MESSAGE = "The specified auto-scaling formula has a syntax error."
TOO_LONG = "AutoScaleFormulaTooLong"
TOO_LONG_MESSAGE = "The specified auto-scaling formula exceeds lengths limit."
INVALID_SETTINGS = "InvalidAutoScalingSettings"
INVALID_SETTINGS_MESSAGE = "The specified auto-scaling settings are not valid."
# Documented (evaluate-autoscale reference and the pool autoscale event).
INSUFFICIENT_SAMPLES = "InsufficientSampleData"
INSUFFICIENT_SAMPLES_MESSAGE = "Autoscale evaluation failed due to insufficient sample data"
# Not documented: any other failure during evaluation (index out of range, average of nothing,
# an unparsable time string). The service surely has codes for these; none is published.
EVALUATION_FAILED = "AutoScaleFormulaEvaluationError"
EVALUATION_FAILED_MESSAGE = "Autoscale evaluation failed"


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the formula text."""

    line: int
    column: int

    def prefix(self) -> str:
        return f"Line {self.line}, Col {self.column}"


class FormulaError(Exception):
    """The formula is refused: ``code`` and ``message`` as the service's 400, located."""

    def __init__(self, code: str, message: str, detail: str, position: Position) -> None:
        super().__init__(f"{position.prefix()}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.position = position

    @property
    def values(self) -> tuple[tuple[str, str], ...]:
        return (("Message", f"{self.position.prefix()}: {self.detail}"),)


def syntax_error(detail: str, position: Position) -> FormulaError:
    return FormulaError(SYNTAX_ERROR, SYNTAX_ERROR_MESSAGE, detail, position)


def too_long(detail: str) -> FormulaError:
    return FormulaError(TOO_LONG, TOO_LONG_MESSAGE, detail, Position(1, 1))


def too_many_statements(detail: str, position: Position) -> FormulaError:
    return FormulaError(INVALID_SETTINGS, INVALID_SETTINGS_MESSAGE, detail, position)


@dataclass(frozen=True)
class AutoscaleRunError:
    """``autoScaleRun.error``: code, message and name/value details."""

    code: str
    message: str
    values: tuple[tuple[str, str], ...]


class EvaluationFailure(Exception):
    """Raised inside evaluation; the runner turns it into ``AutoscaleRun.error``."""

    def __init__(self, error: AutoscaleRunError) -> None:
        super().__init__(error.message)
        self.error = error


def _failure(code: str, message: str, detail: str, position: Position) -> EvaluationFailure:
    located = f"{position.prefix()}: {detail}"
    return EvaluationFailure(AutoscaleRunError(code, message, (("Message", located),)))


def insufficient_samples(detail: str, position: Position) -> EvaluationFailure:
    return _failure(INSUFFICIENT_SAMPLES, INSUFFICIENT_SAMPLES_MESSAGE, detail, position)


def evaluation_failed(detail: str, position: Position) -> EvaluationFailure:
    return _failure(EVALUATION_FAILED, EVALUATION_FAILED_MESSAGE, detail, position)
