"""A task on the local target cannot read the secrets in batchflow's environment through
``/proc/<ancestor>/environ``: the storage key, the Batch key and the emulator's own key are in
the environment of ``batchflow run``, its parent; their values are blanked in the environment
block ``/proc`` shows, and the process is non-dumpable. A real run, a real task reading every
ancestor's environment."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import batchflow, cli_env, write_spec

STORAGE_KEY = base64.b64encode(b"storage-secret-" + b"s" * 49).decode()
BATCH_KEY = base64.b64encode(b"batch-secret-" + b"b" * 51).decode()
EMULATOR_KEY = base64.b64encode(b"emulator-secret-" + b"e" * 48).decode()
SECRETS = {
    "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=acct;"
    f"AccountKey={STORAGE_KEY};EndpointSuffix=core.windows.net",
    "AZURE_BATCH_ACCOUNT": "acct",
    "AZURE_BATCH_ENDPOINT": "https://acct.westeurope.batch.azure.com",
    "AZURE_BATCH_ACCESS_KEY": BATCH_KEY,
    "BATCHFLOW_EMULATOR_KEY": EMULATOR_KEY,
}
# Every ancestor up to pid 1: its pid, then its environment, one variable a line.
WALK = """\
p=$PPID
while [ "$p" -gt 1 ]; do
  echo "ancestor=$p $(tr '\\0' ' ' < /proc/$p/cmdline)"
  tr '\\0' '\\n' < /proc/$p/environ
  p=$(grep PPid /proc/$p/status | cut -f2)
done
echo walked
"""


def test_a_task_cannot_read_secrets_from_its_ancestors_environment(tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    script = tmp_path / "walk.sh"
    script.write_text(WALK)
    write_spec(
        tmp_path,
        "leak",
        f"""
version: 1
name: leak
pool:
  vm_size: standard_a1_v2
  image: ubuntu-22.04
  nodes: {{dedicated: 1}}
tasks:
  list:
    - id: reader
      command: /bin/sh -c "/bin/sh {script} > {report} 2>&1"
cleanup: {{job: delete, pool: delete, inputs: delete}}
""",
    )
    res = batchflow("run", "leak.yaml", "--target", "local", cwd=tmp_path, **SECRETS)
    assert res.code == 0, res.stderr
    # Ancestors' environments are the machine's, not ours: any bytes at all (CI's held 0x80).
    text = report.read_bytes().decode("utf-8", "replace")
    assert "walked" in text and "ancestor=" in text, text
    assert "AZURE_BATCH_ACCESS_KEY" in text  # batchflow's environment was read, and blank
    for secret in (STORAGE_KEY, BATCH_KEY, EMULATOR_KEY, "AccountKey="):
        assert secret not in text, f"a task read {secret[:12]}... from an ancestor"


def test_the_process_hosting_the_local_emulator_is_not_dumpable(tmp_path: Path) -> None:
    """Same-uid processes cannot read a non-dumpable process's environ or memory (root with
    CAP_SYS_PTRACE still can: nothing in-process stops that)."""
    code = (
        "import ctypes, pathlib, sys\n"
        "from batchflow.local.target import local_emulator\n"
        "spec = pathlib.Path(sys.argv[1])\n"
        "with local_emulator(spec, scheduling=False):\n"
        "    print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))\n"  # PR_GET_DUMPABLE
    )
    spec = tmp_path / "x.yaml"
    spec.write_text("version: 1\n")
    proc = subprocess.run(
        [sys.executable, "-c", code, str(spec)], capture_output=True, text=True, timeout=60,
        env=cli_env(), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"
