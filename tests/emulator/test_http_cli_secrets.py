"""``batchflow emulator`` runs its tasks as its own children: a task reading its parent's
``/proc/<pid>/environ`` finds the emulator's key variable blanked. A real emulator process, a
real task through the azure-batch SDK."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from batchflow.emulator import DEV_ACCOUNT
from tests.emulator.core_helpers import add, completed, info, make_job, make_pool

KEY = base64.b64encode(b"emulator-secret-" + b"k" * 48).decode()


def test_a_task_cannot_read_the_emulator_key_from_its_parent(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BATCHFLOW_EMULATOR_KEY": KEY}
    cmd = [sys.executable, "-m", "batchflow", "emulator", "--port", "0", "--data", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stdout.readline())
        assert match
        client = BatchClient(match.group(1), AzureNamedKeyCredential(DEV_ACCOUNT, KEY))
        make_pool(client, "pool", nodes=1, slots=1)
        make_job(client, "job", "pool")
        out = tmp_path / "parent-environ"
        add(client, "job", "t", f'/bin/sh -c \'tr "\\0" "\\n" < /proc/$PPID/environ > {out}\'')
        assert info(completed(client, "job", "t")).exit_code == 0
        text = out.read_text()
        assert "BATCHFLOW_EMULATOR_KEY=" in text  # the parent's environment, read
        assert KEY not in text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
