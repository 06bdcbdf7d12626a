"""``EmulatorService``: one emulated Batch account, its state and its local nodes put together.

The HTTP layer serves its ``core`` (the state: ``http.base.Account``); the state's operations
are module functions of ``state/`` taking that core. The few bound below are for in-process
callers without HTTP (tests).

State lives in SQLite under ``data_dir`` (``state.db``), node directories under
``data_dir/nodes``. ``start()`` recovers from the last stop, clean or ``kill -9``: task process
groups left alive are killed (only if pid *and* start time match), the tasks that were running
are requeued (requeueCount + 1, as when Batch loses a node), interrupted job terminations and
deletions are finished, and every pool gets its local nodes back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from batchflow.emulator import errors
from batchflow.emulator.kinds import JobState, Json, KillReason
from batchflow.emulator.node import executor, runner
from batchflow.emulator.node.local_nodes import LocalNodes, restore
from batchflow.emulator.node.scheduler import Scheduler
from batchflow.emulator.state import job_control, jobs, outcomes, pools, rows, tasks
from batchflow.emulator.state.autoscaling import Autoscaling
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.quotas import Quotas
from batchflow.emulator.state.retention import Janitor
from batchflow.emulator.state.schedule_runs import JobSchedules
from batchflow.emulator.state.store import Store, StoreFailure

P = ParamSpec("P")
R = TypeVar("R")


def _on_core(
    operation: Callable[Concatenate[Core, P], R],
) -> Callable[Concatenate[EmulatorService, P], R]:
    """A state operation as a method of the service: called on the service's live core."""

    def method(self: EmulatorService, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return operation(self.core, *args, **kwargs)

    method.__doc__ = operation.__doc__
    return method


class EmulatorService:
    """Pools, nodes, jobs and tasks of one account, run as local processes."""

    def __init__(
        self,
        data_dir: Path,
        account_name: str,
        nodes_max: int | None = None,
        *,
        scheduling: bool = True,
        quotas: Quotas | None = None,
        applications: tuple[Json, ...] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        # The account's core quotas (``state.quotas``): generous unless a profile says not.
        self.quotas = quotas or Quotas()
        # The account's applications (Application_List/Get): ``state.node_ops.applications``.
        self.applications = applications
        self.account_name = account_name
        self.nodes_max = nodes_max or os.cpu_count() or 1
        # False: a read-only look at the state (``status``, ``logs``): nothing is requeued,
        # killed, booted or dispatched, so looking cannot change what a later run does.
        self.scheduling = scheduling
        self._account_url = f"http://127.0.0.1/{account_name}"
        self._core: Core | None = None
        # Told when the service stops serving on its own (set by the host before start()).
        self.on_failure: Callable[[BaseException], None] | None = None

    @property
    def account_url(self) -> str:
        """The account's URL as tasks see it (``AZ_BATCH_ACCOUNT_URL``); set by the server."""
        return self._account_url

    @account_url.setter
    def account_url(self, value: str) -> None:
        self._account_url = value.rstrip("/")
        if self._core is not None:
            self._core.account_url = self._account_url

    @property
    def core(self) -> Core:
        """The state, for a request; once the service failed every request is refused with
        the reason (a 500 InternalError), so no client polls a service that runs nothing."""
        if self._core is None:
            raise RuntimeError("EmulatorService.start() has not been called")
        if self._core.failure is not None:
            raise errors.service_stopped(str(self._core.failure))
        return self._core

    @property
    def failure(self) -> BaseException | None:
        """Why the service stopped serving (a dead thread, a store it cannot write), if so."""
        return None if self._core is None else self._core.failure

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Open the store, recover from the last stop, start scheduling (only the first step
        when ``scheduling`` is False: pools then list no nodes)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(self.data_dir / "state.db", on_failure=self._store_failed)
        core = Core(
            data_dir=self.data_dir,
            account_name=self.account_name,
            nodes_max=self.nodes_max,
            store=store,
            account_url=self._account_url,
            quotas=self.quotas,
            applications=self.applications,
        )
        core.scheduler = Scheduler(
            store,
            core.cond,
            core.all_nodes,
            lambda node, cand: runner.launch(core, node, cand),
            core.running_in_job,
            core.thread_died,
        )
        core.agent = LocalNodes(core)
        core.janitor = Janitor(store, self.data_dir, core.thread_died)
        core.autoscaling = Autoscaling(core)
        core.schedules = JobSchedules(core)
        core.on_failure = self.on_failure
        self._core = core
        # Even read-only (status, down): tasks a killed emulator left running are orphans
        # that nothing else stops; counting them as running would be a lie.
        self._stop_orphans(core)
        if not self.scheduling:
            return
        self._recover(core)
        core.scheduler.start()
        core.janitor.start()
        core.autoscaling.start()
        core.schedules.start()
        core.wake()

    @staticmethod
    def _stop_orphans(core: Core) -> None:
        """Kill the process groups of tasks that were running when the last emulator stopped
        (only if pid AND start time still match) and requeue those tasks, as Batch does."""
        for orphan in rows.running_tasks(core.store):
            if orphan.pid:
                executor.kill_orphan(orphan.pid, orphan.ticks)
            tasks.requeue(core, orphan.job_id, orphan.task_id)
        # A task killed with its emulator between its start and the commit of its process
        # (or of its running state) has no pid in the state: found by its environment.
        executor.kill_strays(core.data_dir / "nodes")

    def _recover(self, core: Core) -> None:
        core.empty_trash()
        for job_id, state, reason in (
            (j.id, j.state, j.terminate_reason) for j in rows.jobs_at_start(core.store)
        ):
            if state == JobState.TERMINATING:
                jobs.in_background(jobs.finish_terminate, core, job_id, reason or "UserTerminate")
            elif state == JobState.DELETING:
                jobs.in_background(jobs.finish_delete, core, job_id)
            elif state in (JobState.DISABLING, JobState.ENABLING):
                job_control.settle_after_restart(core, job_id, state)
            elif state == JobState.ACTIVE:
                # Reactions a crash may have cut short between a completion and its effects.
                job = core.job(job_id)
                jobs.arm_wall_clock(core, job)
                if job.get("usesTaskDependencies"):
                    outcomes.refresh_dependents(core, job_id)
                jobs.check_all_complete(core, job_id)
        restore(core)

    def _store_failed(self, failure: StoreFailure) -> None:
        if self._core is not None:
            self._core.fail(failure)

    def close(self) -> None:
        """Stop scheduling, kill running task process groups, close the store.

        Tasks that were running stay recorded as running: the next ``start()`` requeues them.
        """
        core = self._core
        if core is None:
            return
        with core.lock:
            core.closing = True
            for timer in core.timers.values():
                timer.cancel()
        core.scheduler.stop()
        core.janitor.stop()
        core.autoscaling.stop()
        core.schedules.stop()
        core.kill_all(KillReason.SHUTDOWN)
        if self.scheduling and core.failure is None:
            # Stopped nodes use no cores: the next start opens their usage again.
            rows.close_all_node_usage(core.store)
        core.store.close()
        self._core = None

    def set_autoscale_speed(self, speed: float) -> None:
        """Run the autoscale clock (samples, evaluation intervals) ``speed`` times faster."""
        self.core.autoscaling.set_speed(speed)

    def wait_for_completion(self, seen: int, timeout: float, need: int = 1) -> int:
        """How many tasks have completed, once ``need`` more than ``seen`` have (or after
        ``timeout`` seconds): an in-process client waits here instead of sleeping between
        polls. A failed or closed service only sleeps: the client's next request learns why
        it stopped."""
        core = self._core
        if core is None or core.failure is not None:
            time.sleep(timeout)
            return seen
        return core.completions.wait_past(seen, timeout, need)

    def dispatch_latencies(self) -> list[float]:
        """Seconds from the event that freed a slot or queued a task to its process start."""
        return list(self.core.scheduler.latencies)

    # -- the state's operations, bound for callers without HTTP (tests) ---------------------
    create_pool = _on_core(pools.create_pool)
    get_pool = _on_core(Core.pool)
    list_pools = _on_core(pools.list_pools)
    list_nodes = _on_core(pools.list_nodes)
    create_job = _on_core(jobs.create_job)
    get_job = _on_core(Core.job)
    list_jobs = _on_core(jobs.list_jobs)
    task_counts = _on_core(jobs.task_counts)
    create_task = _on_core(tasks.create_task)
    create_tasks = _on_core(tasks.create_tasks)
    get_task = _on_core(Core.task)
    list_tasks = _on_core(tasks.list_tasks)
    update_task = _on_core(tasks.update_task)
    reactivate_task = _on_core(tasks.reactivate_task)
    reset = _on_core(Core.reset)
