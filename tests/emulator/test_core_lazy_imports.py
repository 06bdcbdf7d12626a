"""What a local run does not use it does not import: start-up time is part of every run's
overhead (the formula language of autoscale costs tens of milliseconds and most pools have no
formula)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys, time
from batchflow.emulator.service import EmulatorService

svc = EmulatorService(sys.argv[1], "acct", nodes_max=1)
svc.start()
try:
    svc.create_pool({"id": "p", "vmSize": "standard_a1_v2", "targetDedicatedNodes": 1})
    svc.create_job({"id": "j", "poolInfo": {"poolId": "p"}})
    svc.create_task("j", {"id": "t", "commandLine": "/bin/true"})
    deadline = time.monotonic() + 30
    while svc.get_task("j", "t")["state"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert svc.get_task("j", "t")["state"] == "completed"
finally:
    svc.close()
print(" ".join(sorted(m for m in sys.modules if m.startswith("batchflow.emulator.autoscale"))))
"""


def test_a_pool_without_autoscale_never_loads_the_formula_language(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert out.strip() == "", f"loaded: {out.strip()}"
