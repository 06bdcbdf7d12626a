"""What a new Azure account does to a first run, on the local target: a pool with no core
quota ends the run within seconds with the service's code, its message and what to do (not
after the 30-minute pool timeout); a pool that got some of its nodes runs on them and says it
is smaller than asked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import batchflow, examples  # noqa: F401 (a fixture)


def _quickstart(examples: Path, nodes: str) -> None:  # noqa: F811
    spec = examples / "quickstart.yaml"
    spec.write_text(spec.read_text().replace("nodes: {dedicated: 2}", f"nodes: {nodes}"))


def _error_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if "got no node" in line)


def test_a_new_account_without_core_quota_fails_at_once_saying_what_to_do(
    examples: Path,  # noqa: F811
) -> None:
    _quickstart(examples, "{dedicated: 2}")
    t0 = time.monotonic()
    res = batchflow(
        "run", "quickstart.yaml", cwd=examples, BATCHFLOW_EMULATOR_PROFILE="new-account"
    )
    elapsed = time.monotonic() - t0
    assert res.code == 3, res.stderr
    last = _error_line(res.stderr)
    assert "AccountVMSeriesCoreQuotaReached" in last and "standardAv2Family" in last, last
    assert "request more dedicated cores for standardAv2Family" in last, last
    assert "Traceback" not in res.stderr + res.stdout
    assert elapsed < 60, elapsed  # the whole CLI run; the pool's timeout is 30 minutes
    assert "still allocated (0 nodes)" in res.stderr, res.stderr


def test_spot_without_quota_advises_dedicated_nodes(examples: Path) -> None:  # noqa: F811
    _quickstart(examples, "{spot: 1}")
    res = batchflow(
        "run", "quickstart.yaml", cwd=examples, BATCHFLOW_EMULATOR_PROFILE="new-account"
    )
    assert res.code == 3, res.stderr
    last = _error_line(res.stderr)
    assert "AccountLowPriorityCoreQuotaReached" in last and "dedicated nodes" in last, last


def test_a_pool_smaller_than_asked_runs_on_and_says_so(examples: Path) -> None:  # noqa: F811
    res = batchflow(
        "run",
        "quickstart.yaml",
        cwd=examples,
        BATCHFLOW_EMULATOR_PROFILE="new-account",
        BATCHFLOW_EMULATOR_CORE_QUOTAS="standardAv2Family=1",
    )
    assert res.code == 0, res.stderr
    out = res.stdout + res.stderr
    assert "smaller than asked (1 of 2 nodes)" in out, out


def test_a_malformed_quota_is_a_usage_error_naming_the_variable(
    examples: Path,  # noqa: F811
) -> None:
    res = batchflow(
        "run", "quickstart.yaml", cwd=examples, BATCHFLOW_EMULATOR_CORE_QUOTAS="standardAv2Family"
    )
    assert res.code == 2, res.stderr
    assert "BATCHFLOW_EMULATOR_CORE_QUOTAS" in res.stderr and "FAMILY=CORES" in res.stderr
    assert "Traceback" not in res.stderr


def test_an_unknown_vm_size_fails_naming_the_property_and_the_size(
    examples: Path,  # noqa: F811
) -> None:
    spec = examples / "quickstart.yaml"
    spec.write_text(spec.read_text().replace("standard_a1_v2", "standard_d3s_v9"))
    res = batchflow("run", "quickstart.yaml", cwd=examples)
    # Checked against the target's catalog before any pool is asked for: a spec problem.
    assert res.code == 2, res.stderr
    line = next(x for x in res.stderr.splitlines() if "pool.vm_size" in x)
    assert "standard_d3s_v9 is not available" in line, line
    assert "Traceback" not in res.stderr


def test_after_the_quota_is_raised_a_rerun_runs(examples: Path) -> None:  # noqa: F811
    res = batchflow(
        "run", "quickstart.yaml", cwd=examples, BATCHFLOW_EMULATOR_PROFILE="new-account"
    )
    assert res.code == 3, res.stderr
    res = batchflow(
        "run",
        "quickstart.yaml",
        cwd=examples,
        BATCHFLOW_EMULATOR_PROFILE="new-account",
        BATCHFLOW_EMULATOR_CORE_QUOTAS="standardAv2Family=2",
    )
    assert res.code == 0, res.stderr


@pytest.mark.parametrize("failure", ["AllocationFailed", "AllocationTimedout"])
def test_a_failed_allocation_ends_the_run_saying_to_try_later(
    examples: Path,  # noqa: F811
    failure: str,
) -> None:
    res = batchflow(
        "run",
        "quickstart.yaml",
        cwd=examples,
        BATCHFLOW_EMULATOR_FAULTS=json.dumps({"allocationFailure": failure}),
    )
    assert res.code == 3, res.stderr
    line = _error_line(res.stderr)
    assert failure in line and "could not allocate standard_a1_v2 nodes now" in line, line
