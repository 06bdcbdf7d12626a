"""Staging inputs: parallel first upload vs a one-by-one loop, and the no-op second run.

1,000 small files. Against real Azurite: the engine's ``stage_inputs`` (one listing, 16
upload threads) vs a sequential ``upload_blob`` loop with the same SDK into another
container; then ``stage_inputs`` again with nothing changed (0 bytes, < 1 s). The same
second-run check on the local directory store. Prints JSON.

    python bench/bench_staging.py [--files 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from batchflow.azure.blob import AzureBlobStore  # noqa: E402
from batchflow.engine.inputs import stage_inputs  # noqa: E402
from batchflow.engine.protocols import BlobStore  # noqa: E402
from batchflow.local.blobs import LocalBlobStore  # noqa: E402
from batchflow.plan_model import (  # noqa: E402
    CleanupPlan,
    ImageRef,
    JobPlan,
    Plan,
    PoolPlan,
    Upload,
)

# Azurite's documented, public development key.
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_azurite(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = REPO / "node_modules" / ".bin" / "azurite-blob"
    exe = str(binary) if binary.exists() else shutil.which("azurite-blob")
    if not exe:
        raise SystemExit("Azurite not found: run `npm install` in the repository")
    port = _free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--silent",
            "--location",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    return proc, conn


def make_files(root: Path, n: int) -> list[Upload]:
    uploads = []
    for i in range(n):
        path = root / "inputs" / f"file-{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"small input {i}\n".encode() * 20
        path.write_bytes(data)
        uploads.append(Upload(path, f"inputs/{path.name}", len(data), hashlib.md5(data).digest()))
    return uploads


def plan_for(root: Path, name: str, uploads: list[Upload]) -> Plan:
    image = ImageRef("p", "o", "s", "latest", "a")
    pool = PoolPlan(
        id="p", vm_size="v", image=image, dedicated=0, spot=0, slots_per_node=1, start_task=None
    )
    return Plan(
        name=name,
        spec_path=root / "s.yaml",
        input_container=f"{name}-input",
        output_container=f"{name}-output",
        uploads=uploads,
        pool=pool,
        job=JobPlan(id="j", pool_id="p", uses_dependencies=False, timeout_s=3600),
        tasks=[],
        download_dir=None,
        print_stdout=False,
        cleanup=CleanupPlan(job=False, pool=False, inputs=False),
    )


def timed_stage(plan: Plan, store: BlobStore) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    staged = stage_inputs(plan, store, lambda e: None)
    return time.perf_counter() - t0, staged.uploaded, staged.uploaded_bytes


def sequential_loop(conn: str, uploads: list[Upload]) -> float:
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(conn).create_container("loop")
    t0 = time.perf_counter()
    for up in uploads:
        with up.local_path.open("rb") as fh:
            container.upload_blob(up.blob, fh, overwrite=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        uploads = make_files(root, args.files)
        proc, conn = start_azurite(root / "azurite")
        try:
            store = AzureBlobStore.from_connection_string(conn)
            loop_s = sequential_loop(conn, uploads)
            first_s, first_n, first_b = timed_stage(plan_for(root, "az", uploads), store)
            second_s, second_n, second_b = timed_stage(plan_for(root, "az", uploads), store)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        local = LocalBlobStore(root / "blobs")
        lfirst_s, _, _ = timed_stage(plan_for(root, "loc", uploads), local)
        lsecond_s, lsecond_n, lsecond_b = timed_stage(plan_for(root, "loc", uploads), local)
    print(
        json.dumps(
            {
                "benchmark": "staging",
                "files": args.files,
                "azurite": {
                    "sequential_loop_s": round(loop_s, 3),
                    "first_stage_s": round(first_s, 3),
                    "first_uploaded": first_n,
                    "first_bytes": first_b,
                    "speedup_vs_loop": round(loop_s / first_s, 2),
                    "target_speedup": 1.5,
                    "second_stage_s": round(second_s, 3),
                    "second_uploaded": second_n,
                    "second_bytes": second_b,
                },
                "local": {
                    "first_stage_s": round(lfirst_s, 3),
                    "second_stage_s": round(lsecond_s, 3),
                    "second_uploaded": lsecond_n,
                    "second_bytes": lsecond_b,
                },
                "second_run_under_1s": second_s < 1 and lsecond_s < 1,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
