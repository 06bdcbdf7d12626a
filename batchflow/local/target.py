"""The local target: the Batch emulator started in-process, with its state beside the spec.

``.batchflow/emulator/`` holds the emulator's SQLite state and node directories, so a second
run resumes where the first stopped; ``.batchflow/blobs/`` is the file-system blob store.
Tests may inject faults with ``BATCHFLOW_EMULATOR_FAULTS`` (the control surface's JSON, e.g.
``{"errorRate": 0.1, "status": 503}``; ``{"allocationFailure": "AllocationFailed"}`` makes pool
allocations fail; ``{"startTaskExitCodes": [1], "unusableAtBoot": 1}`` makes the start task fail
on one node and another node boot unusable) and drive its control surface with the key they set
in ``BATCHFLOW_EMULATOR_KEY`` (base64); without it every run draws a random key.
``BATCHFLOW_EMULATOR_PROFILE=new-account`` starts it with a new Azure account's core quotas
(none), ``BATCHFLOW_EMULATOR_CORE_QUOTAS`` gives VM families cores on top
(``standardDSv3Family=4,standardFSv2Family=8``), to see on the local target what a first run
on a new account meets.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from batchflow.disk import STATE_DIR
from batchflow.engine.polling import Pause
from batchflow.errors import BackendError, ConfigError, EnvironmentProblem, UsageError

FAULTS_ENV = "BATCHFLOW_EMULATOR_FAULTS"
NODES_ENV = "BATCHFLOW_LOCAL_NODES"
KEY_ENV = "BATCHFLOW_EMULATOR_KEY"
PROFILE_ENV = "BATCHFLOW_EMULATOR_PROFILE"
QUOTAS_ENV = "BATCHFLOW_EMULATOR_CORE_QUOTAS"
ENDPOINT_FILE = "endpoint.json"  # the running emulator's URL and key, mode 0600


class StateBusy(EnvironmentProblem):
    """Another batchflow process holds the state directory: nothing is wrong with the spec
    or the command line (exit 3, not 2); waiting for it, or attaching to it, is the way on."""

    def __init__(self, message: str, state: Path) -> None:
        self.state = state
        super().__init__(message)


@dataclass(frozen=True)
class Endpoint:
    """How to reach the emulator a running batchflow process serves (loopback only)."""

    url: str
    account: str
    key: str
    pid: int


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


def _quotas() -> Any:
    """The account's quotas from the environment (a ``state.quotas.Quotas``), or None."""
    from batchflow.emulator.state.quotas import account_quotas

    profile = os.environ.get(PROFILE_ENV, "").strip()
    families = [f for f in os.environ.get(QUOTAS_ENV, "").split(",") if f.strip()]
    if not profile and not families:
        return None
    try:
        return account_quotas(profile or "default", families)
    except ValueError as exc:
        raise UsageError(f"{PROFILE_ENV}/{QUOTAS_ENV}: {exc}") from None


def _apply_faults(server: Any) -> None:
    faults = _faults()
    if faults is not None:
        server.control.set_faults(
            error_rate=float(faults.get("errorRate", 0.0)),
            status=int(faults.get("status", 503)),
            drop_rate=float(faults.get("dropRate", 0.0)),
            operations=tuple(faults.get("operations", ())),
        )
        if faults.get("allocationFailure"):
            # Every resize that would add nodes fails ("AllocationFailed", "AllocationTimedout").
            try:
                server.control.fail_allocations(str(faults["allocationFailure"]))
            except BackendError as exc:
                raise UsageError(f"{FAULTS_ENV}: allocationFailure: {exc}") from None
        _apply_node_faults(server, faults)


def _apply_node_faults(server: Any, faults: dict[str, Any]) -> None:
    """Start tasks that fail on some nodes (their exit codes, taken one per node) and nodes
    that boot unusable, for every pool the run creates."""
    codes, unusable = faults.get("startTaskExitCodes"), faults.get("unusableAtBoot")
    if codes is None and unusable is None:
        return
    try:
        server.control.set_node_faults(start_task_exit_codes=codes, unusable_at_boot=unusable)
    except BackendError as exc:
        raise UsageError(f"{FAULTS_ENV}: {exc}") from None


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
            raise StateBusy(
                f"another batchflow command is using {state} (a run in progress?); wait for "
                "it to finish or stop it first",
                state,
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


# Local runs last minutes, not hours: the emulator's autoscale clock runs 60x, so a sample is
# taken every 0.5 s and the service's 5-minute minimum evaluation interval passes in 5 s (the
# default 15 minutes in 15 s). A formula's time windows are in the same compressed time.
LOCAL_AUTOSCALE_SPEED = 60.0


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
            quotas=_quotas(),
        )
        server.start()
        if scheduling:
            server.service.set_autoscale_speed(LOCAL_AUTOSCALE_SPEED)
        published = _publish(state, server)
        try:
            _apply_faults(server)
            yield server
        finally:
            if published:
                published.unlink(missing_ok=True)
            server.stop()


def completion_wait(server: Any, floor: float, progress: float = 0.0) -> Pause:
    """The watch loop's pause between polls on the local target: until the in-process
    emulator completes a task (``need`` of them), at most ``interval`` seconds, and never less
    than ``floor`` seconds after the last poll began (a burst of completions is one poll, not
    one each). A finished task's dependents are then made within ``floor``, not a stretched
    interval. Waiting for more than one completion (only the last matters: the run's end), it
    polls at least every ``progress`` seconds, for the progress shown: a poll per completion
    would cost the tasks' threads the time its requests take (they share this process)."""
    service = server.service
    seen = service.wait_for_completion(-1, 0.0)  # the count now
    last = time.monotonic()

    def wait(interval: float, need: int = 1) -> None:
        nonlocal seen, last
        start = time.monotonic()
        if last + floor > start:
            time.sleep(last + floor - start)
        if need > 1:
            interval = max(interval, progress)
        remaining = interval - (time.monotonic() - start)
        seen = service.wait_for_completion(seen, max(0.0, remaining), need)
        last = time.monotonic()

    return wait


def _publish(state: Path, server: Any) -> Path | None:
    """Write where this process's emulator listens, and its key, for read-only commands
    (status, logs) started while it runs. Mode 0600 from creation: only the user who owns
    the state directory, who can read all of it anyway, learns the key."""
    path = state / ENDPOINT_FILE
    tmp = state / f".{ENDPOINT_FILE}.{os.getpid()}"
    info = Endpoint(server.url, server.account, server.key, os.getpid())
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(info), fh)
        os.replace(tmp, path)
    except OSError:
        return None  # a run needs no reader: it goes on, `status` waits for it to end
    return path


def running_endpoint(state: Path) -> Endpoint | None:
    """The endpoint the process holding ``state`` published, if it is ours to trust: a
    regular file owned by this user, readable by nobody else, naming a loopback URL."""
    path = state / ENDPOINT_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, encoding="utf-8") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            return None
        try:
            raw = json.load(fh)
            info = Endpoint(str(raw["url"]), str(raw["account"]), str(raw["key"]), int(raw["pid"]))
        except (ValueError, KeyError, TypeError):
            return None
    return info if info.url.startswith("http://127.0.0.1:") else None
