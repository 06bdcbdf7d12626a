"""Nodes that start task failures or the service make unusable, on the local target: while
some node is usable the run goes on and says the pool is smaller than asked; when none is, it
ends at once with the start task's stderr (exit 1) or the service's reason (exit 3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.e2e.conftest import Result, batchflow, write_spec

SPEC = """
version: 1
name: nodes
pool:
  vm_size: standard_a1_v2
  image: ubuntu-22.04
  nodes: {{dedicated: 2}}
{start}
tasks:
  list:
    - id: one
      command: /bin/true
    - id: two
      command: /bin/true
"""
START = """  start_task:
    command: /bin/true
    wait_for_success: true"""


def _run(tmp_path: Path, faults: dict[str, object], start: str = START) -> tuple[Result, float]:
    write_spec(tmp_path, "nodes", SPEC.format(start=start))
    t0 = time.monotonic()
    res = batchflow("run", "nodes.yaml", cwd=tmp_path, BATCHFLOW_EMULATOR_FAULTS=json.dumps(faults))
    return res, time.monotonic() - t0


def test_a_start_task_failing_on_one_node_of_two_lets_the_run_go_on(tmp_path: Path) -> None:
    res, _ = _run(tmp_path, {"startTaskExitCodes": [5]})
    assert res.code == 0, res.stderr
    out = res.stdout + res.stderr
    assert "smaller than asked (1 of 2 nodes usable: the start task failed on 1" in out, out
    assert "the run goes on with 1" in out


def test_a_start_task_failing_on_every_node_ends_the_run_with_its_stderr(tmp_path: Path) -> None:
    res, seconds = _run(tmp_path, {"startTaskExitCodes": [5, 5]})
    assert res.code == 1, res.stderr
    err = res.stderr
    assert "start task failed on node" in err and "exit code 5" in err, err
    assert "Traceback" not in err
    assert seconds < 60, seconds  # not the pool's 30-minute timeout


def test_every_node_unusable_ends_the_run_saying_so(tmp_path: Path) -> None:
    res, seconds = _run(tmp_path, {"unusableAtBoot": 2}, start="")
    assert res.code == 3, res.stderr
    err = res.stderr
    line = next(x for x in err.splitlines() if "has no usable node" in x)
    assert "all 2 are unusable" in line and "batchflow down nodes.yaml" in line, line
    assert seconds < 60, seconds


def test_one_unusable_node_of_two_lets_the_run_go_on(tmp_path: Path) -> None:
    res, _ = _run(tmp_path, {"unusableAtBoot": 1}, start="")
    assert res.code == 0, res.stderr
    out = res.stdout + res.stderr
    assert "smaller than asked (1 of 2 nodes usable: 1 unusable)" in out, out
