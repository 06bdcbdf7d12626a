"""Refused formulas: located syntax errors, the service's limits, and no other exception for
any text (property-based)."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchflow.emulator.autoscale import (
    MAX_FORMULA_LENGTH,
    AutoscaleEnvironment,
    FormulaError,
    compile_formula,
)
from tests.emulator.autoscale.helpers import NOW, pending


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("$TargetDedicatedNodes = ;", "Line 1, Col 25: Unexpected ';'"),
        ("x = 1;\ny = (2 + 3;", "Line 2, Col 11: Expected ')' but found ';'"),
        ("x = 1\ny = 2;", "Line 2, Col 1: Expected ';' but found 'y'"),
        ("x = 1 +* 2;", "Line 1, Col 8: Unexpected '*'"),
        ("x = 1 # 2;", "Line 1, Col 7: Unexpected character '#'"),
        ('x = "open;', "Line 1, Col 5: Unexpected character '\"'"),
        ("// fine\n  $CPUPercent = 1;", "Line 2, Col 3: $CPUPercent is read-only"),
        ("TimeInterval_Hour = 1;", "Line 1, Col 1: 'TimeInterval_Hour' is a constant"),
        ("x = y + 1;", "Line 1, Col 5: 'y' is used before it is assigned"),
        ("x = $Foo.GetSample(1);", "Line 1, Col 10: '$Foo' has no method 'GetSample'"),
        ("x = $CPUPercent.Average();", "Line 1, Col 17: '$CPUPercent' has no method 'Average'"),
        ("x = $CPUPercent.GetSample();", "Line 1, Col 17: GetSample() does not take ()"),
        (
            "x = $CPUPercent.GetSample(1, 2);",
            "Line 1, Col 17: GetSample() does not take (double, double)",
        ),
        ("x = 1 ? 2;", "Line 1, Col 10: Expected ':' but found ';'"),
        (
            "x = (1).GetSample(1);",
            "Line 1, Col 9: 'GetSample' can only be called on a service-defined variable",
        ),
        (
            "$TargetDedicatedNodes = time();",
            "Line 1, Col 1: $TargetDedicatedNodes must be a double, not a timestamp",
        ),
        (
            "$NodeDeallocationOption = 1;",
            "Line 1, Col 1: $NodeDeallocationOption must be a string, not a double",
        ),
    ],
)
def test_syntax_errors_are_located(text: str, message: str) -> None:
    with pytest.raises(FormulaError) as caught:
        compile_formula(text)
    assert caught.value.code == "AutoScalingFormulaSyntaxError"
    assert caught.value.message == "The specified auto-scaling formula has a syntax error."
    assert caught.value.values == (("Message", message),)


def test_formula_longer_than_8192_characters_is_refused() -> None:
    compile_formula("x = 1;" + " " * (MAX_FORMULA_LENGTH - 6))
    with pytest.raises(FormulaError) as caught:
        compile_formula("x = 1;" + " " * (MAX_FORMULA_LENGTH - 5))
    assert caught.value.code == "AutoScaleFormulaTooLong"


def test_more_than_100_statements_are_refused() -> None:
    compile_formula("x = 1;" * 100)
    with pytest.raises(FormulaError) as caught:
        compile_formula("x = 1;" * 101)
    assert caught.value.code == "InvalidAutoScalingSettings"
    assert caught.value.values == (
        ("Message", "Line 1, Col 601: A formula can have at most 100 statements"),
    )


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "(" * 4000 + "1" + ")" * 4000 + ";",
        "x = " + "-" * 8000 + "1;",
        "x = " + "+".join(["1"] * 4000) + ";",
        "x = " + "1 ? " * 2000 + "1" + " : 1" * 2000 + ";",
        "x = " + "avg(" * 1000 + "1" + ")" * 1000 + ";",
        "x = time()" + ".hour" * 1500 + ";",
    ],
)
def test_deep_nesting_is_a_located_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(FormulaError) as caught:
        compile_formula(text[:MAX_FORMULA_LENGTH])
    assert caught.value.code == "AutoScalingFormulaSyntaxError"
    assert "nested too deeply" in caught.value.detail or "too complex" in caught.value.detail


_ALPHABET = st.sampled_from(
    [
        *list('$_abxyz0123456789.,;:?!=<>+-*/()" \n'),
        "TimeInterval_Minute",
        "$PendingTasks",
        ".GetSample(",
        ".GetSamplePercent(",
        "avg(",
        "time()",
        "val(",
        "stop()",
        "$TargetDedicatedNodes",
        "requeue",
        "//",
        "&&",
        "||",
        "1e308",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, max_size=60).map("".join))
def test_any_text_compiles_and_evaluates_or_is_refused_cleanly(text: str) -> None:
    env = AutoscaleEnvironment(samples=pending([1, 2, 3]))
    started = time.monotonic()
    try:
        formula = compile_formula(text)
    except FormulaError as error:
        assert error.position.line >= 1 and error.position.column >= 1
        return
    result = formula.evaluate(env, NOW)
    assert (result.error is None) != (result.targets is None)
    assert time.monotonic() - started < 5


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_unicode_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(FormulaError):
        compile_formula(text).evaluate(AutoscaleEnvironment(), NOW)
