"""What unauthenticated clients can make the emulator hold: its RSS idle, while 100 clients
each announce a 16 MB upload without a valid signature and push what the emulator takes of it
before stalling, and 10 s after they close. Target: < 150 MB while they stall, back to idle
within 10 s of their closing.

The emulator runs as ``python -m batchflow emulator`` (PYTHONPATH picks the source measured);
RSS is its VmRSS from /proc. Usage: python bench/bench_http_limits.py [CLIENTS [MB_EACH]].
Prints one JSON object; the ratios compare figures of the same run.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY

CLIENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
MB_EACH = int(sys.argv[2]) if len(sys.argv) > 2 else 16
PUSH_SECONDS = 15.0  # how long the clients push before they stall
CHUNK = b"x" * 65536


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise SystemExit("no VmRSS for the emulator")


def _start(data: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchflow", "emulator", "--port", "0", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=data.parent,  # ``-m`` puts the working directory first on sys.path
    )
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the emulator ended early")
        if "listening on" in line:
            return proc, line.split()[-1]


def _unsigned_head(port: int, length: int) -> bytes:
    return (
        f"POST /jobs/j1/addtaskcollection?api-version=2025-06-01 HTTP/1.1\r\n"
        f"host: 127.0.0.1:{port}\r\n"
        f"ocp-date: {email.utils.formatdate(usegmt=True)}\r\n"
        f"content-type: application/json; odata=minimalmetadata\r\n"
        f"content-length: {length}\r\n"
        f"authorization: SharedKey {DEV_ACCOUNT}:bm90IHRoZSBzaWduYXR1cmU=\r\n\r\n"
    ).encode("latin-1")


def _push(socks: list[socket.socket], limit: int) -> tuple[int, int]:
    """Push body bytes on every socket until each is full, refused or at ``limit`` bytes;
    the bytes pushed, and how many sockets the emulator closed."""
    sent = dict.fromkeys(range(len(socks)), 0)
    closed: set[int] = set()
    deadline = time.monotonic() + PUSH_SECONDS
    while time.monotonic() < deadline:
        progress = False
        for i, sock in enumerate(socks):
            if i in closed or sent[i] >= limit:
                continue
            try:
                sent[i] += sock.send(CHUNK[: limit - sent[i]])
                progress = True
            except BlockingIOError:
                continue
            except OSError:  # reset or broken pipe: the emulator refused and closed it
                closed.add(i)
        if not progress:
            time.sleep(0.05)
    return sum(sent.values()), len(closed)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _start(Path(tmp) / "emu")
        port = int(url.rsplit(":", 1)[1])
        try:
            client = BatchClient(url, AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY))
            for _ in range(20):
                list(client.list_pools())
            time.sleep(1)
            idle = _rss_mb(proc.pid)
            length = MB_EACH * 1024 * 1024
            socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(CLIENTS)]
            for sock in socks:
                sock.sendall(_unsigned_head(port, length))
                sock.setblocking(False)
            pushed, refused = _push(socks, length - 1)  # stall one byte short of the end
            time.sleep(1)
            stalled = _rss_mb(proc.pid)
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.close()
            time.sleep(10)
            after = _rss_mb(proc.pid)
            list(client.list_pools())  # still serving
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        json.dumps(
            {
                "clients": CLIENTS,
                "announced_mb_each": MB_EACH,
                "pushed_mb": round(pushed / 1024 / 1024, 1),
                "closed_by_emulator": refused,
                "rss_idle_mb": idle,
                "rss_stalled_mb": stalled,
                "rss_10s_after_close_mb": after,
                "stalled_vs_idle": round(stalled / idle, 2),
                "after_vs_idle": round(after / idle, 2),
                "target_stalled_mb": 150,
            }
        )
    )


if __name__ == "__main__":
    main()
