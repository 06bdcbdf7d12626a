"""A spot pool whose node is preempted during the run, on the local target: the task that ran
there is requeued (not retried), the run still completes, and it says how many nodes were
preempted and which tasks were requeued, while it runs and in its summary."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from batchflow.emulator import DEV_ACCOUNT
from batchflow.emulator.http.control import ControlClient
from tests.e2e.conftest import cli_env, write_spec

TEST_KEY = base64.b64encode(b"the preemption test's own key, not the dev key").decode()


def _spec(root: Path) -> None:
    marker = root / "marker.log"
    write_spec(
        root,
        "spot",
        f"""
version: 1
name: spot
pool:
  vm_size: standard_a1_v2
  image: ubuntu-22.04
  nodes: {{spot: 2}}
tasks:
  list:
    - id: a
      command: /bin/sh -c "echo start >> {marker}; sleep 2"
      retries: 0
    - id: b
      command: /bin/sh -c "echo start >> {marker}; sleep 2"
      retries: 0
""",
    )


def test_a_preempted_spot_node_requeues_and_the_run_completes(tmp_path: Path) -> None:
    _spec(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "spot.yaml"],
        cwd=tmp_path,
        env=cli_env(BATCHFLOW_EMULATOR_KEY=TEST_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None and proc.stdout is not None
    banner = proc.stderr.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+", banner)
    assert url, banner
    err: list[str] = []
    drain = threading.Thread(target=lambda: err.extend(proc.stderr))  # type: ignore[arg-type]
    drain.start()
    marker = tmp_path / "marker.log"
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    control = ControlClient(url.group(0), DEV_ACCOUNT, TEST_KEY)
    assert len(control.preempt("spot-pool", recover_after=30)) == 1
    out = proc.stdout.read()
    try:
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    drain.join()
    text = "".join(err)
    assert proc.returncode == 0, text
    assert "pool: 1 spot node preempted so far; 1 task requeued" in text, text
    summary = next(x for x in text.splitlines() if x.startswith("preempted: "))
    assert summary.startswith("preempted: 1 spot node; requeued: 1 task ("), summary
    assert "requeues are not retries" in summary
    assert len(marker.read_text().split()) == 3  # one task started twice
    assert out is not None


def test_the_last_node_going_unusable_ends_the_run_at_once(tmp_path: Path) -> None:
    _spec(tmp_path)
    spec = tmp_path / "spot.yaml"
    spec.write_text(spec.read_text().replace("{spot: 2}", "{dedicated: 1}").replace('2"', '30"'))
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "run", "spot.yaml"],
        cwd=tmp_path,
        env=cli_env(BATCHFLOW_EMULATOR_KEY=TEST_KEY),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    url = re.search(r"http://127\.0\.0\.1:\d+", proc.stderr.readline())
    assert url
    err: list[str] = []
    drain = threading.Thread(target=lambda: err.extend(proc.stderr))  # type: ignore[arg-type]
    drain.start()
    marker = tmp_path / "marker.log"
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    ControlClient(url.group(0), DEV_ACCOUNT, TEST_KEY).make_unusable("spot-pool")
    t0 = time.monotonic()
    try:
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:  # the run hung: no stray run left behind the test
            proc.kill()
            proc.wait()
    drain.join()
    text = "".join(err)
    assert proc.returncode == 3, text
    assert time.monotonic() - t0 < 25  # not the tasks' 30 s, nor the job's timeout
    line = next(x for x in text.splitlines() if "has no usable node" in x)
    assert "all 1 are unusable" in line, line
