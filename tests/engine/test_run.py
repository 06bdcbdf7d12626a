"""The engine's stages against the real emulator (through the real azure-batch SDK) and the
directory blob store: a whole run, a rerun that resumes, failures, faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchflow.azure.batch import AzureBatchService
from batchflow.azure.connect import batch_service
from batchflow.engine.events import Event
from batchflow.engine.run import RunOptions, run_plan
from batchflow.engine.tasks import add_chunk
from batchflow.errors import SpecMismatch, UsageError, WorkflowFailed
from batchflow.local.blobs import LocalBlobStore
from batchflow.plan_model import CleanupPlan, InputFile, StartTaskPlan
from tests.engine.planning import make_plan, shell_task, upload_of


@pytest.fixture()
def batch(emulator: Any) -> Iterator[AzureBatchService]:
    service = batch_service(emulator.url, emulator.account, emulator.key, fast=True)
    yield service
    service.close()


def _inputs(root: Path, n: int) -> list[Any]:
    ups = []
    for i in range(n):
        p = root / "data" / f"in{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"line of input {i}\n")
        ups.append(upload_of(p, p.name))
    return ups


def _copy_tasks(n: int) -> list[Any]:
    return [
        shell_task(
            f"copy{i}",
            f"tr a-z A-Z < in{i}.txt > out{i}.txt; cat in{i}.txt",
            inputs=[InputFile(f"in{i}.txt", f"in{i}.txt")],
            outputs=[f"out{i}.txt"],
        )
        for i in range(n)
    ]


def test_run_then_rerun_resumes(tmp_path: Path, batch: AzureBatchService) -> None:
    blobs = LocalBlobStore(tmp_path / ".batchflow" / "blobs")
    plan = make_plan(tmp_path, _copy_tasks(3), _inputs(tmp_path, 3), print_stdout=True)
    events: list[Event] = []
    first = run_plan(plan, batch, blobs, events.append, RunOptions())
    assert first.succeeded and first.uploaded == 3 and first.tasks_added == 3
    for i in range(3):
        assert (tmp_path / "out" / f"out{i}.txt").read_text() == f"LINE OF INPUT {i}\n"
    assert first.collected is not None
    assert [o.stdout for o in first.collected.outputs] == [f"line of input {i}" for i in range(3)]
    assert all(o.node_id for o in first.collected.outputs)
    assert {e.stage for e in events} >= {"inputs", "pool", "job", "tasks", "watch", "collect"}
    again = run_plan(plan, batch, blobs, events.append, RunOptions())
    assert again.succeeded
    assert (again.uploaded, again.uploaded_bytes, again.tasks_added) == (0, 0, 0)
    assert again.tasks_existing == 3 and not again.pool_created


def test_failed_task_is_reported(tmp_path: Path, batch: AzureBatchService) -> None:
    tasks = [
        shell_task("ok", "echo fine"),
        shell_task("bad", "echo first >&2; echo boom >&2; exit 3"),
    ]
    res = run_plan(
        make_plan(tmp_path, tasks), batch, LocalBlobStore(tmp_path / "b"), lambda e: None
    )
    assert not res.succeeded and res.collected is not None
    (failed,) = res.collected.failed
    assert failed.task_id == "bad" and failed.exit_code == 3
    assert failed.stderr_tail.splitlines()[-1] == "boom"
    assert failed.category


def test_start_task_failure_stops_quickly(tmp_path: Path, batch: AzureBatchService) -> None:
    start = StartTaskPlan(command="/bin/sh -c 'echo cannot install ffmpeg >&2; exit 7'")
    plan = make_plan(tmp_path, [shell_task("t", "true")], start_task=start)
    t0 = time.monotonic()
    with pytest.raises(WorkflowFailed) as err:
        run_plan(plan, batch, LocalBlobStore(tmp_path / "b"), lambda e: None)
    assert time.monotonic() - t0 < 15
    assert err.value.stage == "pool" and "cannot install ffmpeg" in str(err.value)


def test_existing_pool_that_differs_is_a_conflict(tmp_path: Path, batch: AzureBatchService) -> None:
    blobs = LocalBlobStore(tmp_path / "b")
    run_plan(make_plan(tmp_path, [shell_task("t", "true")], slots=1), batch, blobs, lambda e: None)
    with pytest.raises(SpecMismatch) as err:
        run_plan(
            make_plan(tmp_path, [shell_task("t", "true")], slots=2), batch, blobs, lambda e: None
        )
    assert "slots_per_node" in str(err.value) and "batchflow down" in str(err.value)


def test_a_changed_start_task_is_a_mismatch(tmp_path: Path, batch: AzureBatchService) -> None:
    blobs = LocalBlobStore(tmp_path / "b")
    task = [shell_task("t", "true")]
    broken = StartTaskPlan(command="/bin/sh -c 'exit 7'")
    with pytest.raises(WorkflowFailed):
        run_plan(make_plan(tmp_path, task, start_task=broken), batch, blobs, lambda e: None)
    fixed = StartTaskPlan(command="/bin/sh -c 'exit 0'")
    with pytest.raises(SpecMismatch) as err:
        run_plan(make_plan(tmp_path, task, start_task=fixed), batch, blobs, lambda e: None)
    assert err.value.exit_code == 2
    assert "start_task" in str(err.value) and "batchflow down" in str(err.value)
    same = make_plan(tmp_path, task, start_task=broken)
    with pytest.raises(WorkflowFailed):  # an unchanged start task is the same pool
        run_plan(same, batch, blobs, lambda e: None)


def test_oversized_chunks_are_halved(tmp_path: Path, batch: AzureBatchService) -> None:
    plan = make_plan(tmp_path, [])
    batch.create_job({"id": plan.job.id, "poolInfo": {"poolId": plan.pool.id}})
    bodies = [{"id": f"t{i}", "commandLine": "true"} for i in range(150)]
    assert add_chunk(batch, plan.job.id, bodies) == 150  # 150 > 100: the service says 413
    assert add_chunk(batch, plan.job.id, bodies[:50]) == 0  # TaskExists is fine
    assert len(batch.list_task_ids(plan.job.id)) == 150


@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 0.1, "status": 503},
        {"error_rate": 0.05, "status": 500, "drop_rate": 0.05},  # dropped connections, POSTs too
    ],
)
def test_faults_and_a_lost_node_lose_nothing(
    tmp_path: Path, emulator: Any, batch: AzureBatchService, faults: dict[str, Any]
) -> None:
    n = 12
    tasks = [
        shell_task(f"s{i}", f"sleep 0.3; echo {i} > r{i}.txt", outputs=[f"r{i}.txt"])
        for i in range(n)
    ]
    plan = make_plan(tmp_path, tasks, nodes=2, slots=2)
    emulator.control.set_faults(**faults)
    stop = threading.Event()
    lost: list[str] = []

    def lose_one() -> None:
        while not stop.is_set():
            try:
                lost.append(emulator.control.lose_node(plan.pool.id))
                return
            except Exception:
                time.sleep(0.2)

    killer = threading.Thread(target=lose_one)
    killer.start()
    try:
        res = run_plan(plan, batch, LocalBlobStore(tmp_path / "b"), lambda e: None)
    finally:
        stop.set()
        killer.join()
        emulator.control.clear_faults()
    assert lost, "no node was lost while tasks ran"
    assert res.succeeded and res.counts is not None and res.counts.succeeded == n
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"r{i}.txt" for i in range(n)
    )


def test_rerun_right_after_cleanup(tmp_path: Path, batch: AzureBatchService) -> None:
    blobs = LocalBlobStore(tmp_path / "b")
    cleanup = CleanupPlan(job=True, pool=True, inputs=True)
    plan = make_plan(tmp_path, _copy_tasks(2), _inputs(tmp_path, 2), cleanup=cleanup)
    first = run_plan(plan, batch, blobs, lambda e: None)
    assert first.succeeded and len(first.cleaned) == 3
    # Outputs gone, so the cache (engine.cache) cannot stand in for the tasks: they run again.
    blobs.delete_container(plan.output_container)
    again = run_plan(plan, batch, blobs, lambda e: None)  # old job/pool may still be deleting
    assert again.succeeded and again.tasks_added == 2 and again.uploaded == 2


def test_job_timeout_ends_the_run(tmp_path: Path, batch: AzureBatchService) -> None:
    plan = make_plan(tmp_path, [shell_task("slow", "sleep 60")], timeout_s=2)
    t0 = time.monotonic()
    try:
        res = run_plan(plan, batch, LocalBlobStore(tmp_path / "b"), lambda e: None)
    except WorkflowFailed as exc:  # our deadline passed first
        assert exc.stage == "watch" and "timeout" in str(exc)
    else:  # the service terminated the job first: the task completed as failed
        assert not res.succeeded
    assert time.monotonic() - t0 < 15


def test_changed_tasks_run_again_unchanged_ones_do_not(
    tmp_path: Path, batch: AzureBatchService
) -> None:
    blobs = LocalBlobStore(tmp_path / ".batchflow" / "blobs")
    ups = _inputs(tmp_path, 3)
    first = run_plan(make_plan(tmp_path, _copy_tasks(3), ups), batch, blobs, lambda e: None)
    assert first.succeeded and first.tasks_added == 3
    # An input's content changes: only the task reading it runs again.
    (tmp_path / "data" / "in1.txt").write_text("changed input\n")
    ups = [upload_of(u.local_path, u.blob) for u in ups]
    events: list[Event] = []
    second = run_plan(make_plan(tmp_path, _copy_tasks(3), ups), batch, blobs, events.append)
    assert second.succeeded and (second.tasks_changed, second.tasks_added) == (1, 1)
    assert second.tasks_existing == 2
    assert any("1 task changed since the last run" in e.message for e in events)
    assert (tmp_path / "out" / "out1.txt").read_text() == "CHANGED INPUT\n"
    # A command changes: that task runs again, though it had completed.
    tasks = _copy_tasks(3)
    tasks[2] = shell_task(
        "copy2", "tr a-z A-Z < in2.txt | rev > out2.txt",
        inputs=[InputFile("in2.txt", "in2.txt")], outputs=["out2.txt"],
    )  # fmt: skip
    third = run_plan(make_plan(tmp_path, tasks, ups), batch, blobs, lambda e: None)
    assert third.succeeded and (third.tasks_changed, third.tasks_added) == (1, 1)
    assert (tmp_path / "out" / "out2.txt").read_text() == "2 TUPNI FO ENIL\n"
    # Nothing changed: nothing runs.
    fourth = run_plan(make_plan(tmp_path, tasks, ups), batch, blobs, lambda e: None)
    assert (fourth.tasks_changed, fourth.tasks_added, fourth.tasks_existing) == (0, 0, 3)


def test_downloads_never_overwrite_a_file_batchflow_did_not_write(
    tmp_path: Path, batch: AzureBatchService
) -> None:
    blobs = LocalBlobStore(tmp_path / ".batchflow" / "blobs")
    plan = make_plan(tmp_path, _copy_tasks(3), _inputs(tmp_path, 3))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "out1.txt").write_text("precious\n")
    with pytest.raises(UsageError) as err:
        run_plan(plan, batch, blobs, lambda e: None)
    assert err.value.exit_code == 2 and "out1.txt" in str(err.value)
    assert (tmp_path / "out" / "out1.txt").read_text() == "precious\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["out1.txt"]  # none written
    (tmp_path / "out" / "out1.txt").unlink()
    assert run_plan(plan, batch, blobs, lambda e: None).succeeded
    assert run_plan(plan, batch, blobs, lambda e: None).succeeded  # its own files: fine
    (tmp_path / ".batchflow" / "downloads.json").unlink()  # as after `batchflow down`
    assert run_plan(plan, batch, blobs, lambda e: None).succeeded  # same content: fine
    (tmp_path / "out" / "out2.txt").write_text("edited by the user\n")
    with pytest.raises(UsageError):
        run_plan(plan, batch, blobs, lambda e: None)
    assert (tmp_path / "out" / "out2.txt").read_text() == "edited by the user\n"


def test_start_task_stderr_is_read_by_its_tail(tmp_path: Path, batch: AzureBatchService) -> None:
    noisy = "head -c 300000 /dev/zero | tr '\\\\0' y >&2; echo >&2; echo apt failed >&2; exit 7"
    plan = make_plan(tmp_path, [shell_task("t", "true")], start_task=StartTaskPlan(
        command=f"/bin/sh -c \"{noisy}\""))  # fmt: skip
    with pytest.raises(WorkflowFailed) as err:
        run_plan(plan, batch, LocalBlobStore(tmp_path / "b"), lambda e: None)
    assert err.value.tasks[0].stderr_tail == "apt failed"
    assert len(str(err.value)) < 1000


def test_tasks_depending_on_a_changed_task_run_again(
    tmp_path: Path, batch: AzureBatchService
) -> None:
    import dataclasses

    blobs = LocalBlobStore(tmp_path / ".batchflow" / "blobs")
    marker = tmp_path / "merged.log"

    def plan_of(ups: list[Any]) -> Any:
        merge = dataclasses.replace(
            shell_task("merge", f"echo merged >> {marker}"), depends_on=("copy0",)
        )
        plan = make_plan(tmp_path, [*_copy_tasks(2), merge], ups, name="dep")
        return dataclasses.replace(plan, job=dataclasses.replace(plan.job, uses_dependencies=True))

    ups = _inputs(tmp_path, 2)
    assert run_plan(plan_of(ups), batch, blobs, lambda e: None).succeeded
    (tmp_path / "data" / "in0.txt").write_text("changed input\n")
    ups = [upload_of(u.local_path, u.blob) for u in ups]
    again = run_plan(plan_of(ups), batch, blobs, lambda e: None)
    assert again.succeeded and again.tasks_changed == 2  # copy0 and the merge after it
    assert marker.read_text() == "merged\nmerged\n"


class _CountingBlobs(LocalBlobStore):
    """The file-system store, noting each name listing (not those with MD5s the cache's
    record makes, which this store builds on a name listing)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.listed: list[tuple[str, str]] = []
        self._md5 = False

    def list_blobs(self, container: str, prefix: str = "") -> list[str]:
        if not self._md5:
            self.listed.append((container, prefix))
        return super().list_blobs(container, prefix)

    def list_md5(self, container: str) -> dict[str, bytes | None]:
        self._md5 = True
        try:
            return super().list_md5(container)
        finally:
            self._md5 = False


def test_collect_lists_the_output_container_once(tmp_path: Path, batch: AzureBatchService) -> None:
    blobs = _CountingBlobs(tmp_path / ".batchflow" / "blobs")
    plan = make_plan(tmp_path, _copy_tasks(2), _inputs(tmp_path, 2))
    res = run_plan(plan, batch, blobs, lambda e: None, RunOptions(keep=True))
    assert res.succeeded and (tmp_path / "out" / "out1.txt").read_text() == "LINE OF INPUT 1\n"
    # the download reuses the listing the declared-outputs check made (a fixed cost per run)
    whole = [c for c, prefix in blobs.listed if c == plan.output_container and not prefix]
    assert len(whole) == 1, blobs.listed


class _ListingBatch:
    """The adapter, noting the filter of each task listing."""

    def __init__(self, inner: AzureBatchService) -> None:
        self.inner = inner
        self.filters: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list_tasks(self, job_id: str, filter: str | None = None) -> list[Any]:
        self.filters.append(filter)
        return self.inner.list_tasks(job_id, filter)


def test_a_run_whose_tasks_all_succeeded_checks_outputs_without_listing_them(
    tmp_path: Path, batch: AzureBatchService
) -> None:
    listing = _ListingBatch(batch)
    tasks = [*_copy_tasks(2), shell_task("lazy", "true", outputs=["never.txt"])]
    plan = make_plan(tmp_path, tasks, _inputs(tmp_path, 2))
    res = run_plan(plan, listing, LocalBlobStore(tmp_path / "b"), lambda e: None)  # type: ignore[arg-type]
    # the watch saw every task succeed: their results need no listing of the job's tasks
    assert "state eq 'completed'" not in listing.filters, listing.filters
    assert res.collected is not None  # and a declared output no task wrote is still found
    assert [(m.task_id, m.pattern) for m in res.collected.missing] == [("lazy", "never.txt")]
