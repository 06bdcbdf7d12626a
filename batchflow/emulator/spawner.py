"""Task processes are started by a spawner process, not by batchflow itself.

A task can read its parent's environment (``/proc/$PPID/environ``) and walk up its ancestors.
Under ``batchflow run`` the in-process emulator's parent process holds the run's secrets in its
environment (``AZURE_STORAGE_CONNECTION_STRING``, ``AZURE_BATCH_ACCESS_KEY``,
``BATCHFLOW_EMULATOR_KEY``). So every task is started by a small stdlib-only spawner
(``spawner_main.py``), exec'd once with an EMPTY environment and detached from batchflow: a
task's parent is the spawner, whose environment is empty and whose parent is not batchflow.
Each task still gets exactly the environment the emulator built for it.

One spawner per process, started on first use (and again if it died). A request is one JSON
line; the spawner answers with the pid (or why it could not start), later with the exit code.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("batchflow.emulator")
_SCRIPT = Path(__file__).with_name("spawner_main.py")
# What a task's exit is reported as when the spawner itself was lost (as if SIGKILLed).
LOST_EXIT = -9


class SpawnError(Exception):
    """The spawner could not start the command: ``kind`` is notfound, launch or output."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class ExitStatus:
    """A task's exit, filled in by the spawner's reader thread."""

    _done: threading.Event = field(default_factory=threading.Event)
    code: int = 0

    def set(self, code: int) -> None:
        self.code = code
        self._done.set()

    def wait(self) -> int:
        """The exit code (negative: the signal that killed it)."""
        self._done.wait()
        return self.code


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] = field(default_factory=dict)
    status: ExitStatus = field(default_factory=ExitStatus)


@dataclass
class _Link:
    """One spawner process: the pipe to it and what waits on its answers."""

    stdin: IO[bytes]
    pending: dict[int, _Pending] = field(default_factory=dict)
    exits: dict[int, ExitStatus] = field(default_factory=dict)


class Spawner:
    """The client side: ``spawn`` blocks until the task runs (or could not start)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._link: _Link | None = None
        self._next = 0

    def spawn(
        self, argv: list[str], cwd: str, env: dict[str, str], stdout: str, stderr: str
    ) -> tuple[int, ExitStatus]:
        """Start ``argv`` in its own session; ``(pid, exit status to wait on)``."""
        slot = _Pending()
        line: dict[str, Any] = {
            "argv": argv, "cwd": cwd, "env": env, "stdout": stdout, "stderr": stderr
        }  # fmt: skip
        with self._lock:
            link = self._started()
            self._next += 1
            line["id"] = self._next
            link.pending[self._next] = slot
            try:
                link.stdin.write(json.dumps(line).encode() + b"\n")
                link.stdin.flush()
            except OSError:
                link.pending.pop(self._next, None)
                self._link = None
                raise SpawnError("launch", "the task spawner is gone") from None
        slot.done.wait()
        reply = slot.reply
        if "pid" not in reply:
            raise SpawnError(str(reply.get("error", "launch")), str(reply.get("message", "")))
        return int(reply["pid"]), slot.status

    def _started(self) -> _Link:
        if self._link is not None:
            return self._link
        # -I -S: no user site, no PYTHON* variables, no site-packages: stdlib only, fast.
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={},
            close_fds=True,
        )
        proc.wait()  # the first fork exits at once; the spawner lives on, detached
        assert proc.stdin is not None and proc.stdout is not None
        link = _Link(proc.stdin)
        self._link = link
        threading.Thread(
            target=self._read, args=(link, proc.stdout), name="spawner-reader", daemon=True
        ).start()
        return link

    def _read(self, link: _Link, replies: IO[bytes]) -> None:
        for raw in replies:
            message = json.loads(raw)
            with self._lock:
                if "id" in message:
                    slot = link.pending.pop(int(message["id"]))
                    if "pid" in message:
                        # Registered before the caller wakes: the exit may be the next line.
                        link.exits[int(message["pid"])] = slot.status
                    slot.reply = message
                    slot.done.set()
                else:
                    link.exits.pop(int(message["pid"])).set(int(message["exit"]))
        self._lost(link)

    def _lost(self, link: _Link) -> None:
        """The spawner ended (killed, or crashed): whatever waited on it is told, and the next
        spawn starts a new one."""
        with self._lock:
            if self._link is link:
                self._link = None
            pending, link.pending = link.pending, {}
            exits, link.exits = link.exits, {}
        if pending or exits:
            log.error("the task spawner ended with %d task(s) still running", len(exits))
        for slot in pending.values():
            slot.reply = {"error": "launch", "message": "the task spawner ended"}
            slot.done.set()
        for status in exits.values():
            status.set(LOST_EXIT)


_SPAWNER = Spawner()


def spawn(
    argv: list[str], cwd: str, env: dict[str, str], stdout: str, stderr: str
) -> tuple[int, ExitStatus]:
    """Start a task process through this process's spawner."""
    return _SPAWNER.spawn(argv, cwd, env, stdout, stderr)
