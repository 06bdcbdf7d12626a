"""Keep the keys of the process that hosts the emulator away from the tasks it runs.

Local tasks are children of that process (``batchflow run``, ``batchflow emulator``), and a task
can read its ancestors' start-up environment in ``/proc/<pid>/environ``: the storage connection
string, ``AZURE_BATCH_ACCESS_KEY``, ``BATCHFLOW_EMULATOR_KEY``. Two measures, both in-process,
costing nothing per task:

- the values of secret-looking variables are overwritten in place in the process's original
  environment block, which is what ``/proc/<pid>/environ`` shows (Python already holds its own
  copy in ``os.environ``, which is what batchflow reads; tasks get an environment built from
  scratch, see ``nodes.INHERITED_ENV``);
- the process is made non-dumpable (``PR_SET_DUMPABLE`` 0): processes of the same non-root user,
  tasks included, can then read neither its ``/proc`` files nor its memory, where the keys
  still are.

A child started with the inherited (C) environment would see the blanked values: every task is
started with an explicit one, and batchflow starts no other process.
Neither stops a task running as root with CAP_SYS_PTRACE, which can read any process's memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import re

_PR_SET_DUMPABLE, _PR_GET_DUMPABLE = 4, 3
_SECRET_NAME = re.compile(rb"KEY|SECRET|TOKEN|PASSWORD|PASSWD|CONNECTION_STRING|SAS|CREDENTIAL")
_SECRET_VALUE = re.compile(rb"AccountKey=|SharedAccessSignature=|[?&]sig=", re.IGNORECASE)


def guard() -> None:
    """Apply both measures to this process (quietly skipped where libc does not offer them)."""
    with contextlib.suppress(OSError, AttributeError, ValueError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        _scrub(libc)


def is_dumpable() -> bool:
    return bool(ctypes.CDLL(None).prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0))


def _scrub(libc: ctypes.CDLL) -> None:
    """Zero the value of every secret-looking ``NAME=value`` string that ``environ`` points
    to; the name stays, so ``/proc/<pid>/environ`` shows ``NAME=`` and then NUL bytes."""
    environ = ctypes.POINTER(ctypes.c_void_p).in_dll(libc, "environ")
    i = 0
    while environ[i]:
        address = int(environ[i])
        entry = ctypes.string_at(address)
        name, eq, value = entry.partition(b"=")
        if eq and value and (_SECRET_NAME.search(name.upper()) or _SECRET_VALUE.search(value)):
            ctypes.memset(address + len(name) + 1, 0, len(value))
        i += 1
