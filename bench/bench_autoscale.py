"""Cost of evaluating autoscale formulas over an hour of samples, against a trivial formula.

Evaluates the docs' pending-tasks formula and the docs' task-based formula (15-minute windows,
max/avg) with 120 samples (one hour at 30 s) of every metric, and ``$TargetDedicatedNodes=1;``
as the baseline, alternately, in the same process; prints one JSON object with per-evaluation
medians (microseconds) and the goal (< 1000 us for a typical formula).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time

from batchflow.emulator.autoscale import (
    AutoscaleEnvironment,
    Formula,
    Metric,
    SampleStore,
    compile_formula,
)

ROUNDS, PER_ROUND = 31, 200
NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.timezone.utc)
FORMULAS = {
    "baseline": "$TargetDedicatedNodes=1;",
    "pending_tasks": """startingNumberOfVMs = 1;
maxNumberofVMs = 25;
pendingTaskSamplePercent = $PendingTasks.GetSamplePercent(180 * TimeInterval_Second);
pendingTaskSamples = pendingTaskSamplePercent < 70 ? startingNumberOfVMs :
    avg($PendingTasks.GetSample(180 * TimeInterval_Second));
$TargetDedicatedNodes=min(maxNumberofVMs, pendingTaskSamples);
$NodeDeallocationOption = taskcompletion;""",
    "task_based_hour": """$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 60);
$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) :
    max($PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 60)));
$cpu = avg($CPUPercent.GetSample(TimeInterval_Minute * 60, 50));
$targetVMs = $tasks > 0 ? $tasks : max(0, $TargetDedicatedNodes / 2);
$TargetDedicatedNodes = max(0, min($targetVMs, 20));
$NodeDeallocationOption = taskcompletion;""",
}


def _environment() -> AutoscaleEnvironment:
    store = SampleStore()
    for i in range(120):
        moment = NOW - dt.timedelta(seconds=30 * (119 - i))
        store.record(moment, {metric: float(i % 9) for metric in Metric})
    return AutoscaleEnvironment(samples=store.snapshot(), target_dedicated_nodes=3)


def _per_evaluation_us(formula: Formula, env: AutoscaleEnvironment) -> float:
    started = time.perf_counter()
    for _ in range(PER_ROUND):
        formula.evaluate(env, NOW)
    return (time.perf_counter() - started) / PER_ROUND * 1e6


def main() -> None:
    env = _environment()
    compiled = {name: compile_formula(text) for name, text in FORMULAS.items()}
    timings: dict[str, list[float]] = {name: [] for name in compiled}
    for _ in range(ROUNDS):
        for name, formula in compiled.items():
            timings[name].append(_per_evaluation_us(formula, env))
    started = time.perf_counter()
    for _ in range(PER_ROUND):
        compile_formula(FORMULAS["task_based_hour"])
    compile_us = (time.perf_counter() - started) / PER_ROUND * 1e6
    medians = {name: round(statistics.median(values), 1) for name, values in timings.items()}
    print(
        json.dumps(
            {
                "samples_per_metric": 120,
                "evaluate_median_us": medians,
                "compile_task_based_us": round(compile_us, 1),
                "goal_us": 1000,
                "within_goal": all(v < 1000 for v in medians.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
