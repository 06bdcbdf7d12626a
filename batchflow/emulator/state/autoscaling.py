"""Autoscale pools: the formula language (``emulator.autoscale``) wired to pools and nodes.

A pool created (or enabled) with ``enableAutoScale`` keeps, in memory, its compiled formula,
its metric samples and when it is next due. One thread records a sample of every autoscale
pool each sample period (30 s, as the service) and evaluates its formula at the pool's
``autoScaleEvaluationInterval``; a successful evaluation writes ``autoScaleRun`` and the new
targets, and the pool is brought to them through the same path as a resize (capped by local
capacity). Time runs on an ``AutoscaleClock`` whose speed the control surface sets, so a test
sees a 5-minute interval pass in a second; ``evaluate_now`` is the control's "evaluate now".

The first evaluation happens at create (or enable), after one sample of the pool as it is
then, so a formula reading ``$PendingTasks.GetSample(1)`` works from the start.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from batchflow.emulator import errors, shapes
from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.kinds import AllocationState, Json, TaskResult, TaskState
from batchflow.emulator.state import node_events, rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.loop import Loop
from batchflow.emulator.state.store import StoreClosed

if TYPE_CHECKING:
    # The formula language is imported when a pool first uses it: a run without autoscale
    # (most runs) does not pay for it at start-up.
    from batchflow.emulator.autoscale import AutoscaleRun, Formula, Metric, SampleStore

DEFAULT_INTERVAL = "PT15M"
MIN_INTERVAL_S = 5 * 60.0
MAX_INTERVAL_S = 168 * 3600.0
SAMPLE_PERIOD_S = 30.0
_MAX_WAIT_S = 0.5  # the loop looks again at least this often (a speed change, a new pool)
# An emulated day in 0.09 s, a year in 32 s: fast enough for any test, and the clock stays
# within the dates Python writes (year 9999) for eight years. At 1e308 it left them at once,
# and the thread writing a schedule's next run time died of it (OverflowError).
MAX_SPEED = 1e6


class AutoscaleClock:
    """Emulated UTC time: real time times ``speed`` since the last change of speed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._speed = 1.0
        self._real0 = time.time()
        self._emu0 = self._real0
        self._listeners: list[Callable[[], None]] = []

    def on_speed(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each change of speed (a thread sleeping until an emulated
        time has its wait to work out again)."""
        self._listeners.append(listener)

    @property
    def speed(self) -> float:
        return self._speed

    def epoch(self) -> float:
        with self._lock:
            return self._emu0 + (time.time() - self._real0) * self._speed

    def now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.epoch(), _dt.timezone.utc)

    def set_speed(self, speed: float) -> None:
        """From now on, one real second is ``speed`` emulated seconds (time never goes back)."""
        with self._lock:
            real = time.time()
            self._emu0 += (real - self._real0) * self._speed
            self._real0 = real
            self._speed = speed
        for listener in self._listeners:
            listener()

    def real_seconds(self, emulated: float) -> float:
        return emulated / self._speed


def _samples() -> SampleStore:
    from batchflow.emulator.autoscale import SampleStore

    return SampleStore()


@dataclass
class Scaler:
    """One autoscale pool's formula, samples and schedule (emulated epoch seconds)."""

    formula: Formula
    interval_s: float
    samples: SampleStore = field(default_factory=_samples)
    next_sample: float = 0.0
    next_eval: float = 0.0


# --- request checks ------------------------------------------------------------------------
def _formula(text: object) -> Formula:
    """The compiled formula; the service's 400 (code, message, located detail) when refused."""
    if not isinstance(text, str) or not text.strip():
        raise errors.missing_required_property("autoScaleFormula")
    from batchflow.emulator.autoscale import FormulaError, compile_formula

    try:
        return compile_formula(text)
    except FormulaError as exc:
        raise errors.formula_error(exc.code, exc.message, exc.values) from None


def _interval(value: object) -> float:
    """Seconds of ``autoScaleEvaluationInterval`` (default 15 min), within 5 min - 168 h."""
    text = str(value or DEFAULT_INTERVAL)
    seconds = shapes.seconds(text) or 0.0
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise errors.invalid_property_value(
            "autoScaleEvaluationInterval",
            text,
            "The interval must be between 5 minutes and 168 hours.",
        )
    return seconds


def check_create(doc: Json) -> None:
    """A pool body's autoscale settings as the service checks them at create."""
    if doc.get("enableAutoScale"):
        for key in ("targetDedicatedNodes", "targetLowPriorityNodes"):
            if doc.get(key) is not None:
                raise errors.invalid_property_value(
                    key, doc[key], "It must not be specified when enableAutoScale is true."
                )
        return
    for key in ("autoScaleFormula", "autoScaleEvaluationInterval"):
        if doc.get(key) is not None:
            raise errors.invalid_property_value(
                key, doc[key], "It must not be specified when enableAutoScale is false."
            )


# --- samples and evaluation -----------------------------------------------------------------
def _sample(core: Core, pool: Json) -> dict[Metric, float]:
    """The pool's metrics now: task counts over its active jobs, its current nodes."""
    from batchflow.emulator.autoscale import Metric

    counts = dict.fromkeys(("active", "running", "succeeded", "failed"), 0)
    for job in rows.active_jobs(core.store, pool["id"]):
        for group in rows.task_state_counts(core.store, job.id):
            if group.state == TaskState.ACTIVE:
                counts["active"] += group.tasks
            elif group.state in (TaskState.RUNNING, TaskState.PREPARING):
                counts["running"] += group.tasks
            elif group.state == TaskState.COMPLETED:
                key = "succeeded" if group.result == TaskResult.SUCCESS else "failed"
                counts[key] += group.tasks
    with core.lock:
        nodes = [n for n in core.nodes.get(pool["id"].lower(), []) if not n.leaving]
        used = sum(n.used_slots for n in nodes)
        slots = sum(n.slots for n in nodes)
        preempted, usable = node_events.counts(nodes)
    dedicated = sum(1 for n in nodes if n.dedicated)
    # $CPUPercent is approximated by the share of task slots in use: local nodes share one
    # host, so a per-node CPU reading would say nothing about this pool.
    cpu = 100.0 * used / slots if slots else 0.0
    return {
        Metric.ACTIVE_TASKS: counts["active"],
        Metric.RUNNING_TASKS: counts["running"],
        Metric.PENDING_TASKS: counts["active"] + counts["running"],
        Metric.SUCCEEDED_TASKS: counts["succeeded"],
        Metric.FAILED_TASKS: counts["failed"],
        Metric.CURRENT_DEDICATED_NODES: dedicated,
        Metric.CURRENT_LOW_PRIORITY_NODES: len(nodes) - dedicated,
        Metric.TASK_SLOTS_PER_NODE: int(pool.get("taskSlotsPerNode") or 1),
        Metric.SAMPLE_NODE_COUNT: len(nodes),
        Metric.USABLE_NODE_COUNT: usable,
        Metric.PREEMPTED_NODE_COUNT: preempted,
        Metric.CPU_PERCENT: cpu,
    }


def _run(scaler: Scaler, formula: Formula, pool: Json, at: _dt.datetime) -> AutoscaleRun:
    from batchflow.emulator.autoscale import AutoscaleEnvironment

    env = AutoscaleEnvironment(
        samples=scaler.samples.snapshot(),
        target_dedicated_nodes=int(pool.get("targetDedicatedNodes") or 0),
        target_low_priority_nodes=int(pool.get("targetLowPriorityNodes") or 0),
    )
    return formula.evaluate(env, at)


def _apply(doc: Json, run: AutoscaleRun) -> bool:
    """Record the run on the pool document; True when its targets changed."""
    doc["autoScaleRun"] = run.to_wire()
    if run.targets is None:
        return False
    new = (run.targets.dedicated_nodes, run.targets.low_priority_nodes)
    old = (doc.get("targetDedicatedNodes"), doc.get("targetLowPriorityNodes"))
    doc["targetDedicatedNodes"], doc["targetLowPriorityNodes"] = new
    if new != old:
        shapes.set_state(doc, AllocationState.RESIZING, key="allocationState")
    return new != old


def _deallocation(run: AutoscaleRun) -> str:
    from batchflow.emulator.autoscale import DeallocationOption

    return (
        run.targets.node_deallocation_option if run.targets else DeallocationOption.REQUEUE
    ).value


class Autoscaling:
    """Every autoscale pool of one account, and the thread that samples and evaluates them."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.clock = AutoscaleClock()
        self._scalers: dict[str, Scaler] = {}
        self._cond = threading.Condition()
        # One sample-and-evaluate at a time: the thread and the control's "evaluate now"
        # (or an enable) must not record two samples for the same moment. Taken before
        # ``core.lock``, never inside it.
        self._busy = threading.Lock()
        self._loop = Loop("batch-autoscale", self._cond, self._body, core.thread_died)

    def start(self) -> None:
        """Take up the autoscale pools a previous run left, then start the thread."""
        for _pool_id, pool, _text in rows.stored_pools(self.core.store):
            if isinstance(pool, dict) and pool.get("enableAutoScale"):
                try:
                    self._resume(pool)
                except BatchServiceError:
                    continue
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    # -- the pool operations -------------------------------------------------------------
    def on_create(self, doc: Json) -> Scaler | None:
        """Check and compile a new pool's settings; its first evaluation sets its targets."""
        check_create(doc)
        if not doc.get("enableAutoScale"):
            return None
        formula = _formula(doc.get("autoScaleFormula"))
        doc["autoScaleEvaluationInterval"] = str(
            doc.get("autoScaleEvaluationInterval") or DEFAULT_INTERVAL
        )
        scaler = Scaler(formula, _interval(doc["autoScaleEvaluationInterval"]))
        doc.setdefault("targetDedicatedNodes", 0)
        doc.setdefault("targetLowPriorityNodes", 0)
        self._first_run(scaler, doc)
        return scaler

    def _first_run(self, scaler: Scaler, doc: Json) -> None:
        now = self.clock.epoch()
        scaler.samples.record(_at(now), _sample(self.core, doc))
        _apply(doc, _run(scaler, scaler.formula, doc, _at(now)))
        scaler.next_sample = now + SAMPLE_PERIOD_S
        scaler.next_eval = now + scaler.interval_s

    def register(self, pool_id: str, scaler: Scaler | None) -> None:
        with self._cond:
            if scaler is None:
                self._scalers.pop(pool_id.lower(), None)
            else:
                self._scalers[pool_id.lower()] = scaler
            self._cond.notify_all()

    def _resume(self, pool: Json) -> None:
        """A stored autoscale pool after a restart: its samples start again from now."""
        formula = _formula(pool.get("autoScaleFormula"))
        scaler = Scaler(formula, _interval(pool.get("autoScaleEvaluationInterval")))
        now = self.clock.epoch()
        scaler.next_sample, scaler.next_eval = now, now + scaler.interval_s
        self.register(pool["id"], scaler)

    def enable(self, pool_id: str, body: Json) -> None:
        """enableautoscale: a formula is required unless the pool has one; a new formula or
        interval restarts the schedule from now, with an evaluation now."""
        core = self.core
        pool = core.pool(pool_id)
        if pool.get("allocationState") == AllocationState.RESIZING and not pool.get(
            "enableAutoScale"
        ):
            raise errors.pool_being_resized(pool_id)
        text = body.get("autoScaleFormula") or (
            pool.get("autoScaleFormula") if pool.get("enableAutoScale") else None
        )
        formula = _formula(text)
        interval = str(
            body.get("autoScaleEvaluationInterval")
            or pool.get("autoScaleEvaluationInterval")
            or DEFAULT_INTERVAL
        )
        scaler = Scaler(formula, _interval(interval))
        old = self._scalers.get(pool_id.lower())
        if old is not None:
            scaler.samples = old.samples

        def enabled(doc: Json) -> None:
            doc.update(
                enableAutoScale=True,
                autoScaleFormula=formula.text,
                autoScaleEvaluationInterval=interval,
            )

        doc = core.update_pool(pool_id, enabled)
        self.register(doc["id"], scaler)
        self.evaluate_now(doc["id"], record=old is None)

    def disable(self, pool_id: str) -> None:
        """disableautoscale: the pool keeps its current targets and drops its formula."""

        def disabled(doc: Json) -> None:
            doc["enableAutoScale"] = False
            for key in ("autoScaleFormula", "autoScaleEvaluationInterval", "autoScaleRun"):
                doc.pop(key, None)

        doc = self.core.update_pool(pool_id, disabled)
        self.register(doc["id"], None)

    def evaluate(self, pool_id: str, text: object) -> Json:
        """evaluateautoscale: the formula's run against the pool's samples; nothing changes."""
        pool = self.core.pool(pool_id)
        scaler = self._scalers.get(pool["id"].lower())
        if not pool.get("enableAutoScale") or scaler is None:
            raise errors.autoscale_not_enabled(pool["id"])
        formula = _formula(text)
        with self._busy:  # the thread may be appending a sample
            return _run(scaler, formula, pool, self.clock.now()).to_wire()

    def evaluate_now(self, pool_id: str, record: bool = True) -> Json:
        """Sample (unless told not to) and run the pool's formula now, applying its targets;
        the pool after. The control surface's "evaluate now"."""
        scaler = self._scalers.get(pool_id.lower())
        if scaler is None:
            self.core.pool(pool_id)
            raise errors.autoscale_not_enabled(pool_id)
        with self._busy:
            now = self.clock.epoch()
            if record:
                self._record(pool_id, scaler, now)
            return self._evaluate(pool_id, scaler, now)

    # -- the thread ----------------------------------------------------------------------
    def _record(self, pool_id: str, scaler: Scaler, now: float) -> None:
        from batchflow.emulator.autoscale import Metric

        pool = self.core.pool(pool_id)
        last = scaler.samples.snapshot().get(Metric.PENDING_TASKS)
        if last is not None and last.times and now <= last.times[-1]:
            return
        scaler.samples.record(_at(now), _sample(self.core, pool))
        scaler.next_sample = now + SAMPLE_PERIOD_S

    def _evaluate(self, pool_id: str, scaler: Scaler, now: float) -> Json:
        core = self.core
        pool = core.pool(pool_id)
        run = _run(scaler, scaler.formula, pool, _at(now))
        changed: list[bool] = []
        doc = core.update_pool(pool_id, lambda d: changed.append(_apply(d, run)))
        scaler.next_eval = now + scaler.interval_s
        if changed and changed[0]:
            doc = core.agent.allocate(pool_id, _deallocation(run))
        return doc

    def _body(self) -> None:
        try:
            while not self._loop.stopped:
                self._tick()
                with self._cond:
                    if self._loop.stopped:
                        return
                    self._cond.wait(self._wait())
        except StoreClosed:
            return

    def _wait(self) -> float:
        due = [min(s.next_sample, s.next_eval) for s in self._scalers.values()]
        if not due:
            return _MAX_WAIT_S
        ahead = self.clock.real_seconds(min(due) - self.clock.epoch())
        return max(0.005, min(_MAX_WAIT_S, ahead))

    def _tick(self) -> None:
        with self._cond:
            scalers = list(self._scalers.items())
        for pool_id, scaler in scalers:
            try:
                with self._busy:
                    now = self.clock.epoch()
                    if now >= scaler.next_sample:
                        self._record(pool_id, scaler, now)
                    if now >= scaler.next_eval:
                        self._evaluate(pool_id, scaler, now)
            except BatchServiceError:  # the pool is gone: forget it
                with self._cond:
                    if self._scalers.get(pool_id) is scaler:
                        del self._scalers[pool_id]

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed)
        with self._cond:
            self._cond.notify_all()


def _at(epoch: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
