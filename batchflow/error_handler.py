"""The one error boundary: every exception becomes a message and an exit code here.

Exit codes: 0 ok, 1 workflow failed, 2 bad spec or usage, 3 unexpected or backend error
(one line, plus the path of a log holding the trace), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sys
import tempfile
import traceback
from collections.abc import Generator
from pathlib import Path

from batchflow.errors import BatchflowError, SpecError, WorkflowFailed


def _log_dir() -> Path:
    base = os.environ.get("BATCHFLOW_LOG_DIR") or os.path.join(tempfile.gettempdir(), "batchflow")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_trace(exc: BaseException) -> Path | None:
    """Keep the full trace out of the user's face but on disk, for a bug report."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        path = _log_dir() / f"crash-{stamp}-{os.getpid()}.log"
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        path.write_text(text, encoding="utf-8")
    except OSError:
        return None
    return path


def _say(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def report(exc: BaseException) -> int:
    """Print what a user needs to know about ``exc``; return the exit code."""
    if isinstance(exc, KeyboardInterrupt):
        _say("Interrupted (^C).")
        return 130
    if isinstance(exc, SpecError):
        for problem in exc.problems:
            _say(str(problem))
        n = len(exc.problems)
        _say(f"{n} problem{'s' if n != 1 else ''} found.")
        return exc.exit_code
    if isinstance(exc, WorkflowFailed):
        _say(f"error: {exc}")
        return exc.exit_code
    if isinstance(exc, BatchflowError):
        _say(f"error: {exc}")
        return exc.exit_code
    trace = _write_trace(exc)
    where = f" (full trace in {trace})" if trace else ""
    _say(f"An unexpected error has occurred: {type(exc).__name__}: {exc}{where}")
    return 3


@contextlib.contextmanager
def error_handler() -> Generator[None, None, None]:
    """Run a command; turn whatever escapes it into a message and ``SystemExit``."""
    try:
        yield
    except SystemExit:
        raise
    except (Exception, KeyboardInterrupt) as exc:  # the boundary: nothing gets past here
        raise SystemExit(report(exc)) from None
