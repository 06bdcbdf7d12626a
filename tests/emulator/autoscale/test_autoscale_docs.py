# ruff: noqa: E501 -- the docs' formulas are kept verbatim, long lines included
"""Every example formula in the Batch autoscale docs compiles and evaluates as documented."""

from __future__ import annotations

import datetime as dt

from batchflow.emulator.autoscale import (
    AutoscaleEnvironment,
    DeallocationOption,
    Metric,
    compile_formula,
)
from tests.emulator.autoscale.helpers import NOW, pending, run, series

PENDING_TASKS = """startingNumberOfVMs = 1;
maxNumberofVMs = 25;
pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs : avg($PendingTasks.GetSample(180 * TimeInterval_Second));
$TargetDedicatedNodes=min(maxNumberofVMs, pendingTaskSamples);
$NodeDeallocationOption = taskcompletion;
"""


def test_pending_tasks_starts_with_one_vm_until_samples_exist() -> None:
    result = run(PENDING_TASKS)
    assert result.error is None
    assert result.targets is not None
    assert result.targets.dedicated_nodes == 1
    assert result.targets.node_deallocation_option is DeallocationOption.TASK_COMPLETION


def test_pending_tasks_follows_the_average_and_caps_at_25() -> None:
    # 180 s at 30 s: the last 6 samples count.
    grown = run(PENDING_TASKS, samples=pending([0] * 10 + [4, 4, 6, 6, 8, 8]))
    assert grown.targets is not None and grown.targets.dedicated_nodes == 6
    capped = run(PENDING_TASKS, samples=pending([100] * 6))
    assert capped.targets is not None and capped.targets.dedicated_nodes == 25
    assert capped.results.startswith(
        "$TargetDedicatedNodes=25;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
    )


def test_preempted_nodes_replaced_by_dedicated() -> None:
    text = """maxNumberofVMs = 25;
$TargetDedicatedNodes = min(maxNumberofVMs, $PreemptedNodeCount.GetSample(180 * TimeInterval_Second));
$TargetLowPriorityNodes = min(maxNumberofVMs , maxNumberofVMs - $TargetDedicatedNodes);
$NodeDeallocationOption = taskcompletion;"""
    result = run(text, samples={Metric.PREEMPTED_NODE_COUNT: series([0, 1, 2, 3, 3, 3])})
    assert result.targets is not None
    assert (result.targets.dedicated_nodes, result.targets.low_priority_nodes) == (0, 25)


def test_cpu_formula_without_final_semicolon() -> None:
    text = """$totalDedicatedNodes =
    (min($CPUPercent.GetSample(TimeInterval_Minute * 10)) > 0.7) ?
    ($CurrentDedicatedNodes * 1.1) : $CurrentDedicatedNodes;
$totalDedicatedNodes =
    (avg($CPUPercent.GetSample(TimeInterval_Minute * 60)) < 0.2) ?
    ($CurrentDedicatedNodes * 0.9) : $totalDedicatedNodes;
$TargetDedicatedNodes = min(400, $totalDedicatedNodes)"""
    busy = {Metric.CPU_PERCENT: series([0.9] * 120)}
    current = {Metric.CURRENT_DEDICATED_NODES: 10.0}
    result = run(text, samples=busy, current=current)
    assert "$TargetDedicatedNodes=11" in result.results
    idle = run(text, samples={Metric.CPU_PERCENT: series([0.1] * 120)}, current=current)
    assert idle.targets is not None and idle.targets.dedicated_nodes == 9


WORK_HOURS = """
    $curTime = time();
    $workHours = $curTime.hour >= 8 && $curTime.hour < 18;
    $isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
    $isWorkingWeekdayHour = $workHours && $isWeekday;
    $TargetDedicatedNodes = $isWorkingWeekdayHour ? 20:10;
"""


def test_time_based_results_string_as_documented() -> None:
    # The docs' sample output for this formula at 2016-10-13T19:18:47.805Z (a Thursday, 19h).
    result = run(WORK_HOURS)
    assert result.results == (
        "$TargetDedicatedNodes=10;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue;"
        "$curTime=2016-10-13T19:18:47.805Z;$isWeekday=1;$isWorkingWeekdayHour=0;$workHours=0"
    )
    morning = compile_formula(WORK_HOURS).evaluate(
        AutoscaleEnvironment(),
        NOW.replace(hour=9),
    )
    assert morning.targets is not None and morning.targets.dedicated_nodes == 20


def test_python_sdk_example_with_alias_and_time_zone_shift() -> None:
    text = """$curTime = time() + (-6 * TimeInterval_Hour);
             $workHours = $curTime.hour >= 8 && $curTime.hour < 18;
             $isWeekday = $curTime.weekday >= 1 && $curTime.weekday <= 5;
             $isWorkingWeekdayHour = $workHours && $isWeekday;
             $TargetDedicated = $isWorkingWeekdayHour ? 20:10;"""
    result = run(text)  # 19h UTC - 6 h = 13h on a Thursday
    assert result.targets is not None and result.targets.dedicated_nodes == 20


def test_monday_formula_uses_weekday_one() -> None:
    monday = dt.datetime(2016, 10, 10, 12, tzinfo=dt.timezone.utc)
    formula = compile_formula("$TargetDedicatedNodes = (time().weekday == 1 ? 5:1);")
    env = AutoscaleEnvironment()
    assert "$TargetDedicatedNodes=5" in formula.evaluate(env, monday).results
    assert "$TargetDedicatedNodes=1" in formula.evaluate(env, NOW).results


def test_task_based_example_with_comments() -> None:
    text = """// Get pending tasks for the past 15 minutes.
$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);
// If we have fewer than 70 percent data points, we use the last sample point,
// otherwise we use the maximum of last sample point and the history average.
$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) : max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));
// If number of pending tasks is not 0, set targetVM to pending tasks, otherwise
// half of current dedicated.
$targetVMs = $tasks > 0? $tasks:max(0, $TargetDedicatedNodes/2);
// The pool size is capped at 20, if target VM value is more than that, set it
// to 20. This value should be adjusted according to your use case.
$TargetDedicatedNodes = max(0, min($targetVMs, 20));
// Set node deallocation mode - let running tasks finish before removing a node
$NodeDeallocationOption = taskcompletion;"""
    few = run(text, samples=pending([7]))
    assert few.targets is not None and few.targets.dedicated_nodes == 7
    idle = run(text, samples=pending([0] * 30), target_dedicated_nodes=8)
    assert idle.targets is not None and idle.targets.dedicated_nodes == 4
    busy = run(text, samples=pending([50] * 30))
    assert busy.targets is not None and busy.targets.dedicated_nodes == 20


def test_parallel_tasks_example() -> None:
    text = """$samples = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * 15);
$tasks = $samples < 70 ? max(0,$ActiveTasks.GetSample(1)) : max( $ActiveTasks.GetSample(1),avg($ActiveTasks.GetSample(TimeInterval_Minute * 15)));
$cores = $TargetDedicatedNodes * 4;
$extraVMs = (($tasks - $cores) + 3) / 4;
$targetVMs = ($TargetDedicatedNodes + $extraVMs);
$TargetDedicatedNodes = max(0,min($targetVMs,3));
$NodeDeallocationOption = taskcompletion;"""
    result = run(text, samples={Metric.ACTIVE_TASKS: series([9] * 30)}, target_dedicated_nodes=1)
    assert "$extraVMs=2" in result.results
    assert result.targets is not None and result.targets.dedicated_nodes == 3


def test_initial_pool_size_example_with_rfc1123_time() -> None:
    started = (NOW - dt.timedelta(minutes=5)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    text = f"""
    $TargetDedicatedNodes = 4;
    lifespan         = time() - time("{started}");
    span             = TimeInterval_Minute * 60;
    startup          = TimeInterval_Minute * 10;
    ratio            = 50;
    $TargetDedicatedNodes = (lifespan > startup ? (max($RunningTasks.GetSample(span, ratio), $ActiveTasks.GetSample(span, ratio)) == 0 ? 0 : $TargetDedicatedNodes) : 4);
    """
    young = run(text)
    assert young.error is None and "$lifespan=00:05:00" in young.results
    assert young.targets is not None and young.targets.dedicated_nodes == 4


def test_rest_reference_example_with_lowercase_names_and_old_alias() -> None:
    text = (
        "totalNodes=($CPUPercent.GetSamplePercent(TimeInterval_Minute*0,TimeInterval_Minute*10)"
        "<0.7?5:(min($CPUPercent.GetSample(TimeInterval_Minute*0, TimeInterval_Minute*10))>0.8?"
        "($CurrentDedicated*1.1):$CurrentDedicated));$targetDedicatedNodes=min(100,totalNodes);"
    )
    result = run(text)
    assert result.targets is not None and result.targets.dedicated_nodes == 5


def test_insufficient_samples_error_in_the_documented_shape() -> None:
    text = "$TargetDedicatedNodes = avg($CPUPercent.GetSample(TimeInterval_Minute * 10, 10));"
    wire = run(text).to_wire()
    assert wire["error"] == {
        "code": "InsufficientSampleData",
        "message": "Autoscale evaluation failed due to insufficient sample data",
        "values": [
            {
                "name": "Message",
                "value": "Line 1, Col 41: Insufficient data from data set: "
                "$CPUPercent wanted 10%, received 0%",
            }
        ],
    }
    assert wire["results"] == (
        "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue"
    )
