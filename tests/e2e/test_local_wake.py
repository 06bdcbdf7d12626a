"""The local target's watch loop waits for the in-process emulator's next task completion,
not a stretched poll interval: a finished task's dependents are made at once."""

from __future__ import annotations

import time
from pathlib import Path

from batchflow.local.target import completion_wait, local_emulator


def test_the_watch_pause_ends_when_a_task_completes(tmp_path: Path) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text("version: 1\n")
    with local_emulator(spec) as server:
        svc = server.service
        svc.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1})
        svc.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
        wait = completion_wait(server, floor=0.0)
        started = time.monotonic()
        wait(0.3)  # nothing completes: the whole interval, no spinning
        assert time.monotonic() - started >= 0.29
        svc.create_task("j", {"id": "t", "commandLine": "/bin/sleep 0.5"})
        started = time.monotonic()
        wait(120.0)
        assert svc.get_task("j", "t")["state"] == "completed"
        assert time.monotonic() - started < 60.0  # woken by the completion, not the interval


def test_the_watch_pause_keeps_a_floor_between_polls(tmp_path: Path) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text("version: 1\n")
    with local_emulator(spec) as server:
        svc = server.service
        svc.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1})
        svc.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
        svc.create_tasks("j", [{"id": f"t{i}", "commandLine": "/bin/true"} for i in range(5)])
        wait = completion_wait(server, floor=0.4)
        started = time.monotonic()
        wait(0.0)
        wait(0.0)  # completions or not, the second poll is 0.4 s after the first
        assert time.monotonic() - started >= 0.39


def test_the_watch_pause_outlives_the_emulator_it_waits_on(tmp_path: Path) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text("version: 1\n")
    with local_emulator(spec) as server:
        wait = completion_wait(server, floor=0.0)
    started = time.monotonic()
    wait(0.2)  # a stopped (or failed) service: a plain pause, the next poll says why
    assert time.monotonic() - started >= 0.19


def test_the_watch_pause_can_wait_for_the_last_of_several_completions(tmp_path: Path) -> None:
    """Only the run's end matters (``need``: the tasks left): the first completions do not
    end the pause, the last one does, well before the interval."""
    spec = tmp_path / "w.yaml"
    spec.write_text("version: 1\n")
    with local_emulator(spec) as server:
        svc = server.service
        svc.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1})
        svc.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
        wait = completion_wait(server, floor=0.0, progress=120.0)
        svc.create_task("j", {"id": "quick", "commandLine": "/bin/true"})
        svc.create_task("j", {"id": "slow", "commandLine": "/bin/sleep 0.6"})
        started = time.monotonic()
        wait(0.0, 2)  # the progress interval, unless both complete first
        assert svc.get_task("j", "slow")["state"] == "completed"
        assert time.monotonic() - started < 60.0  # woken by the last completion
