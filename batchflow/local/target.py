"""The local target: the Batch emulator started in-process, with its state beside the spec.

``.batchflow/emulator/`` holds the emulator's SQLite state and node directories, so a second
run resumes where the first stopped; ``.batchflow/blobs/`` is the file-system blob store.
Tests may inject faults with ``BATCHFLOW_EMULATOR_FAULTS`` (the control surface's JSON, e.g.
``{"errorRate": 0.1, "status": 503}``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from batchflow.errors import UsageError

STATE_DIR = ".batchflow"
FAULTS_ENV = "BATCHFLOW_EMULATOR_FAULTS"
NODES_ENV = "BATCHFLOW_LOCAL_NODES"


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


def start_emulator(spec_path: Path) -> Any:
    """Start the emulator on loopback with its state under ``.batchflow/emulator/``; the
    caller stops it (``.stop()``). Running tasks of an earlier run are requeued by it."""
    from batchflow.emulator.server import EmulatorServer

    server = EmulatorServer(data_dir=state_dir(spec_path) / "emulator", nodes_max=_nodes_max())
    server.start()
    faults = _faults()
    if faults is not None:
        try:
            server.control.set_faults(
                error_rate=float(faults.get("errorRate", 0.0)),
                status=int(faults.get("status", 503)),
                drop_rate=float(faults.get("dropRate", 0.0)),
                operations=tuple(faults.get("operations", ())),
            )
        except BaseException:
            server.stop()
            raise
    return server
