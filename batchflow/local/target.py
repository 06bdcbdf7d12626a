"""The local target: the Batch emulator started in-process, with its state beside the spec.

``.batchflow/emulator/`` holds the emulator's SQLite state and node directories, so a second
run resumes where the first stopped; ``.batchflow/blobs/`` is the file-system blob store.
Tests may inject faults with ``BATCHFLOW_EMULATOR_FAULTS`` (the control surface's JSON, e.g.
``{"errorRate": 0.1, "status": 503}``) and drive its control surface with the key they set
in ``BATCHFLOW_EMULATOR_KEY`` (base64); without it every run draws a random key.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batchflow.disk import STATE_DIR
from batchflow.errors import ConfigError, UsageError

FAULTS_ENV = "BATCHFLOW_EMULATOR_FAULTS"
NODES_ENV = "BATCHFLOW_LOCAL_NODES"
KEY_ENV = "BATCHFLOW_EMULATOR_KEY"


def state_dir(spec_path: Path) -> Path:
    """Where the local target keeps everything for specs in this directory."""
    return spec_path.resolve().parent / STATE_DIR


def blobs_dir(spec_path: Path) -> Path:
    """The file-system blob store's root."""
    return state_dir(spec_path) / "blobs"


def _nodes_max() -> int:
    raw = os.environ.get(NODES_ENV, "")
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            raise UsageError(f"{NODES_ENV} must be a whole number, not {raw!r}") from None
    return max(4, os.cpu_count() or 1)


def _faults() -> dict[str, Any] | None:
    raw = os.environ.get(FAULTS_ENV, "")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{FAULTS_ENV} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{FAULTS_ENV} must be a JSON object")
    return value


def _apply_faults(server: Any) -> None:
    faults = _faults()
    if faults is not None:
        server.control.set_faults(
            error_rate=float(faults.get("errorRate", 0.0)),
            status=int(faults.get("status", 503)),
            drop_rate=float(faults.get("dropRate", 0.0)),
            operations=tuple(faults.get("operations", ())),
        )


@contextlib.contextmanager
def _exclusive(state: Path) -> Iterator[None]:
    """One local emulator per state directory: two would run the same tasks twice. The
    kernel drops the lock with the process, so a ``kill -9`` leaves nothing stale."""
    try:
        state.mkdir(parents=True, exist_ok=True)
        lock = (state / "lock").open("a+")
    except OSError as exc:
        raise UsageError(
            f"cannot create the local target's state {state}: {exc.strerror}; run from a "
            "directory you can write to, or make the spec's directory writable"
        ) from None
    with lock as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another batchflow command is using {state} (a run in progress?); wait for "
                "it to finish or stop it first"
            ) from None
        yield


def chosen_key() -> str | None:
    """The key the user chose in ``BATCHFLOW_EMULATOR_KEY``, or None: the emulator then
    draws a random one (the public development key would let any local user who finds the
    port run commands as whoever started the run)."""
    given = os.environ.get(KEY_ENV, "").strip()
    if not given:
        return None
    try:
        base64.b64decode(given, validate=True)
    except ValueError:
        raise ConfigError(f"{KEY_ENV} is not base64") from None
    return given


class _QuietFileHandler(logging.FileHandler):
    """A log that cannot be written (its disk is full) is not news for the terminal:
    logging's default prints a traceback there for every record that fails."""

    def handleError(self, record: logging.LogRecord) -> None:
        del record

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the last flush, on that full disk
            super().close()


@contextlib.contextmanager
def _emulator_log(path: Path) -> Iterator[None]:
    """The in-process emulator logs to a file beside its state, not to the user's terminal:
    what it reports (a task's staging failure, an internal error with its trace) is for a bug
    report, and a run's own output says what the user needs."""
    logger = logging.getLogger("batchflow.emulator")
    handler = _QuietFileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    previous = (logger.propagate, logger.level)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.propagate, logger.level = previous


@contextlib.contextmanager
def local_emulator(spec_path: Path, *, scheduling: bool = True) -> Iterator[Any]:
    """The emulator on loopback with its state under ``.batchflow/emulator/``, stopped on
    exit, signing with a key of its own. Tasks that were running when an earlier run stopped
    are requeued by it; with ``scheduling=False`` (status, logs, down) nothing runs at all."""
    from batchflow.emulator.node import host_guard
    from batchflow.emulator.server import EmulatorServer

    state = state_dir(spec_path)
    host_guard.guard()  # tasks are children of this process: keep its keys from them
    with _exclusive(state), _emulator_log(state / "emulator.log"):
        server = EmulatorServer(
            data_dir=state / "emulator",
            nodes_max=_nodes_max(),
            key=chosen_key(),
            scheduling=scheduling,
        )
        server.start()
        try:
            _apply_faults(server)
            yield server
        finally:
            server.stop()
