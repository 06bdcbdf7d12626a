"""The one error boundary: every exception becomes a message and an exit code here.

Exit codes: 0 ok, 1 workflow failed, 2 bad spec or usage, 3 unexpected, backend or
environment error such as a full disk (one line; for a bug, plus the path of a log holding
the trace), 130 interrupted, 143 terminated
(SIGTERM). A closed stdout (``| head``) ends the command quietly.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
import threading
from collections.abc import Generator
from pathlib import Path

from batchflow.errors import BatchflowError, SpecError


def _log_dir() -> Path:
    """A per-user directory (``$XDG_STATE_HOME/batchflow``, else ``~/.local/state/
    batchflow``; ``BATCHFLOW_LOG_DIR`` overrides), mode 0700: traces may show paths and
    names nobody else should read. A symlink or someone else's directory is refused."""
    base = os.environ.get("BATCHFLOW_LOG_DIR")
    if not base:
        state = os.environ.get("XDG_STATE_HOME") or os.path.join(
            os.path.expanduser("~"), ".local", "state"
        )
        base = os.path.join(state, "batchflow")
    path = Path(base)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise OSError(f"{path} is not a directory of this user")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def _write_trace(exc: BaseException) -> Path | None:
    """Keep the full trace out of the user's face but on disk, for a bug report. The file
    is new (O_EXCL: never an existing file or a planted symlink) and readable by its owner
    only; its name carries a random part so it cannot be guessed in advance."""
    # Imported here, not at the top: only a crash needs them, and every command's cold
    # start (validate's above all) pays for what this module imports.
    import datetime as _dt
    import secrets
    import traceback

    from batchflow.redact import redact

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        name = f"crash-{stamp}-{os.getpid()}-{secrets.token_hex(4)}.log"
        path = _log_dir() / name
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(redact(text))
    except OSError:
        return None
    return path


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: the in-process
    emulator stops and kills its tasks' process groups, the run says how to resume."""


def _on_sigterm(signum: int, frame: object) -> None:
    del signum, frame
    raise Terminated()


def _say(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def report(exc: BaseException) -> int:
    """Print what a user needs to know about ``exc``; return the exit code."""
    if isinstance(exc, Terminated):
        _say("Terminated (SIGTERM).")
        return 143
    if isinstance(exc, KeyboardInterrupt):
        _say("Interrupted (^C).")
        return 130
    if isinstance(exc, BrokenPipeError):
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
    if isinstance(exc, SpecError):
        for problem in exc.problems:
            _say(str(problem))
        n = len(exc.problems)
        _say(f"{n} problem{'s' if n != 1 else ''} found.")
        return exc.exit_code
    if isinstance(exc, BatchflowError):  # WorkflowFailed included
        _say(f"error: {exc}")
        for note in exc.notes:
            _say(note)
        return exc.exit_code
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        # The machine's problem, not a bug: no trace, the path when the error names one.
        where = f" writing {exc.filename}" if exc.filename else ""
        _say(f"error: disk full{where}: {exc.strerror}; free space and run again")
        return 3
    from batchflow.redact import redact

    trace = _write_trace(exc)
    where = f" (full trace in {trace})" if trace else ""
    _say(f"An unexpected error has occurred: {type(exc).__name__}: {redact(str(exc))}{where}")
    return 3


@contextlib.contextmanager
def error_handler() -> Generator[None, None, None]:
    """Run a command; turn whatever escapes it into a message and ``SystemExit``. SIGTERM
    is handled as Ctrl-C is (exit 143)."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except SystemExit:
        raise
    except (Exception, KeyboardInterrupt) as exc:  # the boundary: nothing gets past here
        raise SystemExit(report(exc)) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _quiet_stdout() -> None:
    """``batchflow ... | head``: the reader left. Point stdout at /dev/null so the
    interpreter's final flush does not complain about the broken pipe a second time."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
