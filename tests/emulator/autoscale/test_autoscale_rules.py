"""Each operator and type rule of the docs' operations table, and each built-in function."""

from __future__ import annotations

import pytest

from batchflow.emulator.autoscale import FormulaError, compile_formula
from tests.emulator.autoscale.helpers import pending, run, value

V = "v = $PendingTasks.GetSample(3); "  # [1,2,3] with pending([1, 2, 3])
S = pending([1, 2, 3])


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("7 / 2", "3.5"),
        ("1 - 2 - 3", "-4"),
        ("-2 * -3", "6"),
        ("!0", "1"),
        ("!5", "0"),
        ("1 / 0", "Infinity"),
        ("0 / 0", "NaN"),
        ("1 < 2", "1"),
        ("2 <= 1", "0"),
        ("2 == 2", "1"),
        ("2 != 2", "0"),
        ("3 >= 3", "1"),
        ("3 > 4", "0"),
        ("1 && 0", "0"),
        ("1 || 0", "1"),
        ("2 && 3", "1"),
        ("1 ? 2 : 3", "2"),
        ("0 ? 2 : 0 ? 3 : 4", "4"),
        ("1 + 2 < 4 && 5 > 4", "1"),
        ('"a" < "b"', "1"),
        ('"abc" == "abc"', "1"),
        ("TimeInterval_Minute * 2", "00:02:00"),
        ("2 * TimeInterval_Hour", "02:00:00"),
        ("TimeInterval_Hour / 4", "00:15:00"),
        ("TimeInterval_Day + TimeInterval_Second", "1.00:00:01"),
        ("TimeInterval_Second - TimeInterval_Minute", "-00:00:59"),
        ("-TimeInterval_Week", "-7.00:00:00"),
        ("TimeInterval_Millisecond", "00:00:00.0010000"),
        ("TimeInterval_Microsecond", "00:00:00.0000010"),
        ("TimeInterval_100ns", "00:00:00.0000001"),
        ("TimeInterval_Zero", "00:00:00"),
        ("TimeInterval_Year", "365.00:00:00"),
        ("TimeInterval_Minute < TimeInterval_Hour", "1"),
        ("time() + TimeInterval_Day", "2016-10-14T19:18:47.805Z"),
        ("TimeInterval_Day + time()", "2016-10-14T19:18:47.805Z"),
        ('time() - time("2016-10-13T19:00:00Z")', "00:18:47.8050000"),
        ('time("2016-10-13T19:00:00Z") < time()', "1"),
        ('time("2016-10-13T19:00:00Z").minute', "0"),
        ("time().year", "2016"),
        ("time().month", "10"),
        ("time().day", "13"),
        ("time().second", "47"),
        ("requeue", "requeue"),
    ],
)
def test_operations(expr: str, expected: str) -> None:
    assert value(f"x = {expr};") == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("v + 1", "[2,3,4]"),
        ("v - 1", "[0,1,2]"),
        ("v * 2", "[2,4,6]"),
        ("v / 2", "[0.5,1,1.5]"),
        ("v + v", "[2,4,6]"),
        ("v * v", "[1,4,9]"),
        ("v - v", "[0,0,0]"),
        ("v / v", "[1,1,1]"),
    ],
)
def test_vector_operations(expr: str, expected: str) -> None:
    assert value(V + f"x = {expr};", samples=S) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("2 * v", "Operator '*' does not apply to double and doubleVec"),
        ("v < 1", "Operator '<' does not apply to doubleVec and double"),
        ("-v", "Operator '-' does not apply to a doubleVec"),
        ("!TimeInterval_Hour", "Operator '!' does not apply to a timeinterval"),
        ("TimeInterval_Hour + 1", "Operator '+' does not apply to timeinterval and double"),
        ("time() - TimeInterval_Hour", "Operator '-' does not apply to timestamp and timeinterval"),
        ("time() + time()", "Operator '+' does not apply to timestamp and timestamp"),
        ('"a" + "b"', "Operator '+' does not apply to string and string"),
        ("1 && v", "Operator '&&' does not apply to double and doubleVec"),
        ("v ? 1 : 2", "A condition must be a double, not a doubleVec"),
        ("1 ? 1 : v", "The branches of '?:' differ: double and doubleVec"),
        ("1 == TimeInterval_Hour", "Operator '==' does not apply to double and timeinterval"),
        ("v.hour", "A doubleVec has no member 'hour'"),
        ("time().week", "A timestamp has no member 'week'"),
    ],
)
def test_type_rules_refuse_at_compile_time(expr: str, message: str) -> None:
    with pytest.raises(FormulaError) as caught:
        compile_formula(V + f"x = {expr};")
    assert caught.value.code == "AutoScalingFormulaSyntaxError"
    assert caught.value.detail == message


def test_vectors_of_different_lengths_fail_the_evaluation() -> None:
    result = run(
        "a = $PendingTasks.GetSample(2); b = $PendingTasks.GetSample(3); x = a + b;", samples=S
    )
    assert result.error is not None and result.targets is None
    assert result.error.values == (
        ("Message", "Line 1, Col 71: doubleVec lengths differ (2 and 3)"),
    )


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("avg(v)", "2"),
        ("avg(v, 7)", "3.25"),
        ("avg(1, 2, 3, 7)", "3.25"),
        ("len(v, 4, v)", "7"),
        ("len()", "0"),
        ("lg(8)", "3"),
        ("lg(v)", "[0,1,1.584962500721156]"),
        ("ln(1)", "0"),
        ("ln(0)", "-Infinity"),
        ("log(1000)", "3"),
        ("log(v, 10)", "[0,0.3010299956639812,0.47712125471966244,1]"),
        ("log(-1)", "NaN"),
        ("max(v, 0)", "3"),
        ("min(v, 0)", "0"),
        ("norm(3, 4)", "5"),
        ("percentile(v, 50)", "2"),
        ("percentile(v, 100)", "3"),
        ("percentile(v, 0)", "1"),
        ("range(v, 10)", "9"),
        ("std(2, 4, 4, 4, 5, 5, 7, 9)", "2.138089935299395"),
        ("std(5)", "0"),
        ("sum(v, 4)", "10"),
        ("sum()", "0"),
        ("val(v, 0)", "1"),
        ("val(v, 2)", "3"),
        ('time("Thu, 13 Oct 2016 19:00:00 GMT")', "2016-10-13T19:00:00.000Z"),
        ('time("2016-10-13T19:00:00+02:00")', "2016-10-13T17:00:00.000Z"),
        ('time("")', "2016-10-13T19:18:47.805Z"),
    ],
)
def test_functions(call: str, expected: str) -> None:
    assert value(V + f"x = {call};", samples=S) == expected


def test_rand_comes_from_the_environment() -> None:
    assert value("x = rand();", rand=lambda: 0.25) == "0.25"


@pytest.mark.parametrize(
    ("call", "detail"),
    [
        ("avg()", "avg() of an empty list"),
        ("max($PendingTasks.GetSample(0))", "max() of an empty list"),
        ("val(v, 3)", "val() index 3 is outside a vector of 3 elements"),
        ("val(v, -1)", "val() index -1 is outside a vector of 3 elements"),
        ("percentile(v, 101)", "percentile 101 is not between 0 and 100"),
        ('time("yesterday")', "'yesterday' is not a W3C-DTF or RFC 1123 date and time"),
    ],
)
def test_function_failures_are_located_evaluation_errors(call: str, detail: str) -> None:
    result = run(V + f"x = {call};", samples=S)
    assert result.error is not None
    assert result.error.values[0][1] == f"Line 1, Col 37: {detail}"


@pytest.mark.parametrize(
    ("call", "detail"),
    [
        ("avg(time())", "avg() expects doubles or doubleVecs, not timestamp"),
        ("val(1, 2)", "val() expects (doubleVec, double)"),
        ("rand(1)", "rand() expects ()"),
        ("time(1)", "time() expects () or (string)"),
        ("lg()", "lg() expects a double or a doubleVecList"),
        ("ceil(1)", "Unknown function 'ceil'"),
    ],
)
def test_function_signatures_checked_at_compile_time(call: str, detail: str) -> None:
    with pytest.raises(FormulaError) as caught:
        compile_formula(f"x = {call};")
    assert caught.value.detail == detail


def test_stop_ends_evaluation_with_what_was_assigned() -> None:
    result = run("$TargetDedicatedNodes = 3; stop(); $TargetDedicatedNodes = 9;")
    assert result.error is None and result.targets is not None
    assert result.targets.dedicated_nodes == 3
    inside = run("$TargetDedicatedNodes = 1 ? stop() : 4;", target_dedicated_nodes=2)
    assert inside.targets is not None and inside.targets.dedicated_nodes == 2


def test_full_target_name_wins_over_its_alias() -> None:
    result = run("$TargetDedicatedNodes = 4; $TargetDedicated = 7; $TargetLowPriority = 2;")
    assert result.targets is not None
    assert (result.targets.dedicated_nodes, result.targets.low_priority_nodes) == (4, 2)


def test_targets_truncate_and_clamp() -> None:
    result = run("$TargetDedicatedNodes = 2.9; $TargetLowPriorityNodes = -3;")
    assert result.targets is not None
    assert (result.targets.dedicated_nodes, result.targets.low_priority_nodes) == (2, 0)
    assert result.results.startswith("$TargetDedicatedNodes=2.9;$TargetLowPriorityNodes=-3;")
    nan = run("$TargetDedicatedNodes = 0 / 0;")
    assert nan.targets is None and nan.error is not None


def test_node_deallocation_option_values() -> None:
    for option in ("requeue", "terminate", "taskcompletion", "retaineddata"):
        assert value(f"$NodeDeallocationOption = {option};", "NodeDeallocationOption") == option
    bad = run('$NodeDeallocationOption = "later";')
    assert (
        bad.error is not None
        and "'later' is not a $NodeDeallocationOption" in (bad.error.values[0][1])
    )


def test_dollar_is_optional_for_user_variables() -> None:
    assert value("$a = 2; x = a * 3;") == "6"


def test_service_variables_read_current_values_then_latest_sample() -> None:
    from batchflow.emulator.autoscale import Metric

    assert (
        value("x = $CurrentDedicatedNodes;", current={Metric.CURRENT_DEDICATED_NODES: 3.0}) == "3"
    )
    assert value("x = $PendingTasks;", samples=S) == "3"
    assert (
        value(
            "x = $TaskSlotsPerNode * $UsableNodeCount;",
            current={Metric.TASK_SLOTS_PER_NODE: 4.0, Metric.USABLE_NODE_COUNT: 2.0},
        )
        == "8"
    )
    missing = run("x = $RunningTasks;")
    assert missing.error is not None and missing.error.code == "InsufficientSampleData"
