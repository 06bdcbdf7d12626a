"""``EmulatorService``: the emulated Batch account behind the HTTP layer (``contract.BatchState``).

State lives in SQLite under ``data_dir`` (``state.db``), node directories under
``data_dir/nodes``. ``start()`` recovers from the last stop, clean or ``kill -9``: task process
groups left alive are killed (only if pid *and* start time match), the tasks that were running
are requeued (requeueCount + 1, as when Batch loses a node), interrupted job terminations and
deletions are finished, and every pool gets its local nodes back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from batchflow.emulator import errors
from batchflow.emulator.kinds import Json, KillReason
from batchflow.emulator.node import executor, pools, runner
from batchflow.emulator.node.processes import run_job_task
from batchflow.emulator.node.scheduler import Scheduler
from batchflow.emulator.state import jobs, outcomes, rows, tasks
from batchflow.emulator.state.contract import Page
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.retention import Janitor
from batchflow.emulator.state.store import Store, StoreFailure


class EmulatorService:
    """Pools, nodes, jobs and tasks of one account, run as local processes."""

    def __init__(
        self,
        data_dir: Path,
        account_name: str,
        nodes_max: int | None = None,
        *,
        scheduling: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
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
        )
        core.scheduler = Scheduler(
            store,
            core.cond,
            core.all_nodes,
            lambda node, cand: runner.launch(core, node, cand),
            core.running_in_job,
            core.thread_died,
        )
        core.run_job_task = run_job_task
        core.janitor = Janitor(store, self.data_dir, core.thread_died)
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
        core.wake()

    @staticmethod
    def _stop_orphans(core: Core) -> None:
        """Kill the process groups of tasks that were running when the last emulator stopped
        (only if pid AND start time still match) and requeue those tasks, as Batch does."""
        for orphan in rows.running_tasks(core.store):
            if orphan.pid:
                executor.kill_orphan(orphan.pid, orphan.ticks)
            tasks.requeue(core, orphan.job_id, orphan.task_id)

    def _recover(self, core: Core) -> None:
        for job_id, state, reason in (
            (j.id, j.state, j.terminate_reason) for j in rows.jobs_at_start(core.store)
        ):
            if state == "terminating":
                jobs.in_background(jobs.finish_terminate, core, job_id, reason or "UserTerminate")
            elif state == "deleting":
                jobs.in_background(jobs.finish_delete, core, job_id)
            elif state == "active":
                # Reactions a crash may have cut short between a completion and its effects.
                job = core.job(job_id)
                jobs.arm_wall_clock(core, job)
                if job.get("usesTaskDependencies"):
                    outcomes.refresh_dependents(core, job_id)
                jobs.check_all_complete(core, job_id)
        pools.restore(core)

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
        self._kill_all(core, KillReason.SHUTDOWN)
        core.store.close()
        self._core = None

    @staticmethod
    def _kill_all(core: Core, reason: KillReason) -> None:
        with core.lock:
            for run in core.running.values():
                run.kill(reason)
            for node in core.all_nodes():
                node.leaving = True
                if node.start_process is not None:
                    node.start_process.kill(reason)
        core.wait_runs_gone(lambda r: True, timeout=10)

    def dispatch_latencies(self) -> list[float]:
        """Seconds from the event that freed a slot or queued a task to its process start."""
        return list(self.core.scheduler.latencies)

    # -- pools ------------------------------------------------------------------------------
    def create_pool(self, body: Json) -> Json:
        return pools.create_pool(self.core, body)

    def get_pool(self, pool_id: str) -> Json:
        return self.core.pool(pool_id)

    def list_pools(self, filter: str | None, token: str | None, limit: int) -> Page:
        return pools.list_pools(self.core, filter, token, limit)

    def delete_pool(self, pool_id: str) -> None:
        pools.delete_pool(self.core, pool_id)

    def resize_pool(self, pool_id: str, body: Json) -> None:
        pools.resize_pool(self.core, pool_id, body)

    def update_pool(self, pool_id: str, body: Json, replace: bool) -> Json:
        return pools.update_pool(self.core, pool_id, body, replace)

    def list_nodes(self, pool_id: str, filter: str | None, token: str | None, limit: int) -> Page:
        return pools.list_nodes(self.core, pool_id, filter, token, limit)

    def get_node(self, pool_id: str, node_id: str) -> Json:
        node = pools.find_node(self.core, pool_id, node_id)
        with self.core.lock:
            return node.doc(self.core.pool_url(node.pool_id))

    def node_root(self, pool_id: str, node_id: str) -> Path:
        return pools.find_node(self.core, pool_id, node_id).root

    # -- jobs -------------------------------------------------------------------------------
    def create_job(self, body: Json) -> Json:
        return jobs.create_job(self.core, body)

    def get_job(self, job_id: str) -> Json:
        return self.core.job(job_id)

    def list_jobs(self, filter: str | None, token: str | None, limit: int) -> Page:
        return jobs.list_jobs(self.core, filter, token, limit)

    def update_job(self, job_id: str, body: Json, replace: bool) -> Json:
        return jobs.update_job(self.core, job_id, body, replace)

    def terminate_job(self, job_id: str, reason: str | None, force: bool) -> None:
        jobs.terminate_job(self.core, job_id, reason)

    def delete_job(self, job_id: str, force: bool) -> None:
        jobs.delete_job(self.core, job_id)

    def task_counts(self, job_id: str) -> Json:
        return jobs.task_counts(self.core, job_id)

    # -- tasks ------------------------------------------------------------------------------
    def create_task(self, job_id: str, body: Json) -> Json:
        return tasks.create_task(self.core, job_id, body)

    def create_tasks(self, job_id: str, bodies: list[Json]) -> list[Json]:
        return tasks.create_tasks(self.core, job_id, bodies)

    def get_task(self, job_id: str, task_id: str) -> Json:
        return self.core.task(job_id, task_id)

    def list_tasks(self, job_id: str, filter: str | None, token: str | None, limit: int) -> Page:
        return tasks.list_tasks(self.core, job_id, filter, token, limit)

    def update_task(self, job_id: str, task_id: str, body: Json) -> None:
        tasks.update_task(self.core, job_id, task_id, body)

    def terminate_task(self, job_id: str, task_id: str) -> None:
        tasks.terminate_task(self.core, job_id, task_id)

    def delete_task(self, job_id: str, task_id: str) -> None:
        tasks.delete_task(self.core, job_id, task_id)

    def reactivate_task(self, job_id: str, task_id: str) -> None:
        tasks.reactivate_task(self.core, job_id, task_id)

    def task_dir(self, job_id: str, task_id: str) -> Path | None:
        return tasks.task_dir(self.core, job_id, task_id)

    # -- control surface --------------------------------------------------------------------
    def lose_node(self, pool_id: str, node_id: str | None) -> str:
        return pools.lose_node(self.core, pool_id, node_id)

    def reset(self) -> None:
        """Kill everything and forget every pool, job and task."""
        core = self.core
        with core.lock:
            for timer in core.timers.values():
                timer.cancel()
            core.timers.clear()
            for run in core.running.values():
                run.kill(KillReason.DELETE)
        self._kill_all(core, KillReason.DELETE)
        with core.lock:
            core.nodes.clear()
            core.job_cache.clear()
            core.store.reset()
            core.discard(self.data_dir / "nodes")
