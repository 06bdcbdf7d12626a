"""Job schedules, job disable / enable and the preparation status through the msrest-era SDK
(azure-batch 14.2, in its own virtualenv: ``sdk14_schedules.py``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.emulator.test_sdk14 import HERE, sdk14_python  # noqa: F401 (the fixture)


def test_sdk14_schedules(sdk14_python: Path, emulator: object) -> None:  # noqa: F811
    proc = subprocess.run(
        [
            sdk14_python,
            HERE / "sdk14_schedules.py",
            emulator.url,  # type: ignore[attr-defined]
            emulator.account,  # type: ignore[attr-defined]
            emulator.key,  # type: ignore[attr-defined]
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["exists"] is True and seen["exists_missing"] is False
    assert seen["dup"] == "JobScheduleExists"
    assert seen["state"] == "active" and seen["next_run_off_by"] < 1  # doNotRunUntil
    assert seen["metadata"] == [["k", "v"]]
    assert not seen["metadata_after_update"]  # an update (PUT) clears what it does not give
    assert seen["disabled"] == "disabled"
    assert seen["listed"] == ["s14"]
    assert seen["jobs"] == ["now:job-1"]
    assert seen["requeued"] == ["active", 1]
    assert seen["enabled"] == "active"
    assert seen["prep_status"] == []
    assert seen["job_after_terminate"] == "completed"
    assert seen["job_after_delete"] == "JobNotFound"
