"""Run one task process the way a Batch node does: no shell, its own process group.

The command line is split with ``shlex`` and exec'd directly (Batch does not use a shell
either: ``/bin/sh -c "..."`` is how users ask for one). Each process starts a new session, so
killing its process group takes its children too. Completion is detected by a thread blocked in
``waitpid`` (``Popen.wait()`` without a timeout, which does not poll), and the wall-clock limit
is a timer that kills the group; nothing here sleeps in a loop.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

KILL_GRACE_SECONDS = 0.5


@dataclass(frozen=True)
class LaunchError(Exception):
    """The command could not be started: ``code`` is the Batch failure code."""

    code: str
    message: str


@dataclass
class Process:
    """A started task process; ``kill`` may be called from any thread, any number of times."""

    popen: subprocess.Popen[bytes]
    pid: int
    start_ticks: int
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: bool = False
    killed_by: str | None = None

    def wait(self, wall_clock: float | None = None) -> int:
        """Block until the process exits; kill it after ``wall_clock`` seconds.

        Returns the exit status; a signal death is reported as 128 + signal number (what a
        shell on the node would show).
        """
        timer = None
        if wall_clock is not None:
            timer = threading.Timer(wall_clock, self.kill, args=("walltime",))
            timer.daemon = True
            timer.start()
        try:
            code = self.popen.wait()
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._done = True
        # Children that outlived the leader are part of the task: take them down too.
        _killpg(self.pid, signal.SIGKILL)
        return 128 - code if code < 0 else code

    def kill(self, reason: str) -> None:
        """SIGTERM the process group, then SIGKILL it after a short grace."""
        with self._lock:
            if self._done:
                return
            if self.killed_by is None:
                self.killed_by = reason
            _killpg(self.pid, signal.SIGTERM)
        timer = threading.Timer(KILL_GRACE_SECONDS, self._force)
        timer.daemon = True
        timer.start()

    def _force(self) -> None:
        with self._lock:
            if not self._done:
                _killpg(self.pid, signal.SIGKILL)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def start(
    command_line: str, cwd: str | Path, env: dict[str, str], stdout: str | Path, stderr: str | Path
) -> Process:
    """Start ``command_line`` in ``cwd`` with exactly ``env``; output goes to the two files."""
    try:
        argv = shlex.split(command_line)
    except ValueError as exc:
        raise LaunchError("CommandLaunchFailed", f"The command line is malformed: {exc}") from exc
    if not argv:
        raise LaunchError("CommandLaunchFailed", "The command line is empty")
    try:
        out, err = open(stdout, "wb"), open(stderr, "wb")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise LaunchError(
            "CommandLaunchFailed", f"The task's output files could not be created: {exc.strerror}"
        ) from exc
    with out, err:
        try:
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                # Python opens every descriptor non-inheritable (PEP 446), so there is nothing
                # to close; close_fds=True would cost ~0.5 ms per task on this hot path.
                start_new_session=True,
                close_fds=False,
            )
        except FileNotFoundError as exc:
            raise LaunchError(
                "CommandProgramNotFound", f"The program '{argv[0]}' was not found"
            ) from exc
        except OSError as exc:
            raise LaunchError(
                "CommandLaunchFailed",
                f"The program '{argv[0]}' could not be started: {exc.strerror}",
            ) from exc
    return Process(popen=popen, pid=popen.pid, start_ticks=start_ticks(popen.pid) or 0)


def start_ticks(pid: int) -> int | None:
    """The process start time (``/proc/<pid>/stat`` field 22), None if it is gone.

    Stored with the pid so that a later cleanup never kills a recycled pid.
    """
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[19])


def kill_orphan(pgid: int, ticks: int) -> bool:
    """Kill process group ``pgid`` if its leader is still the process that started at ``ticks``
    (left behind by an emulator killed with -9). Returns True if something was killed."""
    if ticks <= 0 or start_ticks(pgid) != ticks:
        return False
    _killpg(pgid, signal.SIGKILL)
    return True


def kill_strays(nodes_root: Path) -> int:
    """Kill the process groups of tasks a dead emulator left under ``nodes_root`` that its
    state cannot name: a ``kill -9`` between a task's start and the commit of its pid.

    A task is known by its environment (``AZ_BATCH_NODE_ROOT_DIR`` under ``nodes_root``),
    not by its working directory: a user's shell that ``cd``-ed into a task directory to look
    at it is no task. Only called while holding the data directory's lock, when no emulator
    runs those nodes. Returns how many process groups were killed.
    """
    prefix = f"AZ_BATCH_NODE_ROOT_DIR={nodes_root.resolve()}{os.sep}".encode()
    mine = os.getpgrp()
    killed: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                environ = fh.read()
            pgid = os.getpgid(int(entry.name))
        except OSError:
            continue  # gone, or not ours to read
        if (
            pgid != mine
            and pgid not in killed
            and any(v.startswith(prefix) for v in environ.split(b"\0"))
        ):
            _killpg(pgid, signal.SIGKILL)
            killed.add(pgid)
    return len(killed)
