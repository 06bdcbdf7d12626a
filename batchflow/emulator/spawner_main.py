"""The task spawner process (the other half of ``spawner.py``); stdlib only, run as a script
with ``python -I -S`` and an empty environment.

It detaches first (fork, the parent exits, new session), so a task's parent is this process
and this process's parent is not batchflow: a task walking ``/proc/$PPID/environ`` up its
ancestors meets no environment holding a key. Then it serves JSON lines on stdin::

    {"id": 7, "argv": [...], "cwd": "...", "env": {...}, "stdout": "...", "stderr": "..."}

answering ``{"id": 7, "pid": 1234}`` (or ``{"id": 7, "error": "notfound"|"launch",
"message": "..."}``) on stdout, and later ``{"pid": 1234, "exit": 0}`` (negative: killed by that
signal) when the task ends. EOF on stdin (batchflow went away) ends it; tasks still running are
left alone, as batchflow's own restart recovery expects.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
from typing import Any


def _send(message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(1, data) :]


def _spawn(request: dict[str, Any], children: dict[int, subprocess.Popen[bytes]]) -> None:
    rid = request["id"]
    try:
        out, err = open(request["stdout"], "wb"), open(request["stderr"], "wb")  # noqa: SIM115
    except OSError as exc:
        _send({"id": rid, "error": "output", "message": exc.strerror or str(exc)})
        return
    with out, err:
        try:
            popen = subprocess.Popen(
                request["argv"],
                cwd=request["cwd"],
                env=request["env"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=False,  # everything else here is non-inheritable (PEP 446)
            )
        except FileNotFoundError:
            _send({"id": rid, "error": "notfound", "message": ""})
            return
        except OSError as exc:
            _send({"id": rid, "error": "launch", "message": exc.strerror or str(exc)})
            return
    children[popen.pid] = popen
    _send({"id": rid, "pid": popen.pid})


def _reap(children: dict[int, subprocess.Popen[bytes]]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        popen = children.pop(pid, None)
        if popen is not None:
            popen.returncode = code  # reaped here: the Popen must never wait for it again
        _send({"pid": pid, "exit": code})


def main() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()  # no terminal: a Ctrl-C meant for batchflow does not end the spawner
    children: dict[int, subprocess.Popen[bytes]] = {}
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda _sig, _frame: None)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    pending = b""
    while True:
        for key, _events in selector.select():
            if key.fd == wake_r:
                os.read(wake_r, 4096)
                _reap(children)
                continue
            data = os.read(0, 1 << 16)
            if not data:
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                _spawn(json.loads(line), children)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        main()
    sys.exit(0)
