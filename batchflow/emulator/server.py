"""``EmulatorServer``: the emulator served by uvicorn in a daemon thread, for tests, the local
target and ``batchflow emulator``.

    with EmulatorServer(data_dir=path) as emu:      # port 0: a free port, known once bound
        BatchClient(emu.url, AzureNamedKeyCredential(emu.account, emu.key))

The socket is bound here, before uvicorn starts, so the real port is known without a race.
Only loopback addresses are served unless ``allow_remote`` says otherwise: the development key
is public, so the emulator must not be reachable from a network by accident. ``key=None``
signs with a fresh random key instead (``.key``), so other local users cannot call it either.
One server per data directory: ``start()`` takes an exclusive ``flock`` on
``<data_dir>/emulator.lock`` (dropped by the kernel on ``kill -9``), so two servers never run
the same tasks twice. ``scheduling=False`` opens the state read-only in effect: nothing left
running by an interrupted run is requeued, killed or started.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, cast

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY, trees
from batchflow.emulator.http.auth import decode_key
from batchflow.emulator.http.control import ControlClient
from batchflow.emulator.http.limits import GuardedProtocol, HttpLimits, raise_open_file_limit
from batchflow.emulator.kinds import Json
from batchflow.emulator.state.store import StoreFailure
from batchflow.errors import BackendError, BatchflowError, EnvironmentProblem, UsageError
from batchflow.net import is_loopback

if TYPE_CHECKING:
    from batchflow.emulator.service import EmulatorService
    from batchflow.emulator.state.quotas import Quotas

_START_TIMEOUT = 15.0
LOCK_NAME = "emulator.lock"


def stopped_error(exc: BaseException) -> BatchflowError:
    """What a user is told when the emulator stopped serving because of ``exc``: a store
    that cannot be written is the machine's problem (disk full: free space, run again, the
    state is intact); anything else is the emulator's own failure, its trace in its log."""
    if isinstance(exc, StoreFailure):
        cure = "free space there and run again" if exc.disk_full else "fix it and run again"
        return EnvironmentProblem(f"{exc}; {cure} (finished tasks are kept)")
    return BackendError(
        f"the Batch emulator stopped serving: {exc} (the trace is in the emulator's log)",
        code="EmulatorStopped",
    )


def random_key() -> str:
    """A fresh account key (32 random bytes, base64), like the keys Azure issues."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class EmulatorServer:
    """One emulated Batch account on ``http://host:port``; ``start()``, then ``stop()``."""

    def __init__(
        self,
        data_dir: Path | None = None,
        account: str = DEV_ACCOUNT,
        key: str | None = DEV_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        nodes_max: int | None = None,
        *,
        allow_remote: bool = False,
        access_log: bool = False,
        scheduling: bool = True,
        limits: HttpLimits | None = None,
        on_failure: Callable[[BatchflowError], None] | None = None,
        quotas: Quotas | None = None,
        applications: tuple[Json, ...] = (),
    ) -> None:
        """``key=None``: a fresh random key; ``scheduling=False``: serve the stored state
        without running anything (see ``EmulatorService``); ``limits``: how long and how
        much one HTTP client may hold the server (``HttpLimits``); ``on_failure`` is told
        (from the failing thread) when the service stops serving on its own."""
        if not allow_remote and not is_loopback(host):
            raise UsageError(
                f"the emulator listens on loopback only, not on {host!r} "
                "(its development key is public)"
            )
        key = random_key() if key is None else key
        decode_key(key)  # a bad key fails here, not on the first request
        self.account = account
        self.key = key
        self.scheduling = scheduling
        self.limits = limits or HttpLimits()
        self._lock: IO[bytes] | None = None
        self.host = host
        self.port = port
        self.nodes_max = nodes_max
        self.quotas = quotas
        self.applications = applications
        self.access_log = access_log
        self._data_dir = data_dir
        self._temp_dir: Path | None = None
        self._service: EmulatorService | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._on_failure = on_failure
        self.failure: BatchflowError | None = None

    @property
    def url(self) -> str:
        """The account endpoint, e.g. ``http://127.0.0.1:8250``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def service(self) -> EmulatorService:
        """The state behind the HTTP layer (started)."""
        if self._service is None:
            raise UsageError("the emulator is not started")
        return self._service

    @property
    def control(self) -> ControlClient:
        """A client of the control surface (faults, node loss, reset, counters)."""
        return ControlClient(self.url, self.account, self.key)

    @property
    def data_dir(self) -> Path:
        """Where the state lives (a temporary directory when none was given)."""
        if self._data_dir is not None:
            return self._data_dir
        if self._temp_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="batchflow-emulator-"))
        return self._temp_dir

    def start(self) -> EmulatorServer:
        """Bind, start the state and the HTTP server, return once requests are served."""
        if self._thread is not None:
            raise UsageError("the emulator is already started")
        self._lock = self._take_lock()
        raise_open_file_limit()  # room for tasks and connections alike
        try:
            self._socket = self._bind()
            self.port = int(self._socket.getsockname()[1])
            self._service = self._start_service()
        except StoreFailure as exc:
            self.stop()
            raise stopped_error(exc) from None
        except BaseException:
            self.stop()  # release the lock, the port and any temporary directory
            raise
        self._serve(self._service, self._socket)
        self._wait_started()
        return self

    def _start_service(self) -> EmulatorService:
        from batchflow.emulator.service import EmulatorService

        service = EmulatorService(
            self.data_dir,
            self.account,
            self.nodes_max,
            scheduling=self.scheduling,
            quotas=self.quotas,
            applications=self.applications,
        )
        service.account_url = self.url
        service.on_failure = self._failed
        service.start()
        return service

    def _failed(self, exc: BaseException) -> None:
        self.failure = stopped_error(exc)
        if self._on_failure is not None:
            self._on_failure(self.failure)

    def check(self) -> None:
        """Raise why the service stopped serving on its own (disk full, a dead thread), if
        it did: a host polls this instead of waiting on a service that runs nothing."""
        if self.failure is not None:
            raise self.failure

    def _serve(self, service: EmulatorService, sock: socket.socket) -> None:
        """Run uvicorn on the bound socket in a daemon thread."""
        import uvicorn

        from batchflow.emulator.http.app import create_app
        from batchflow.emulator.http.prompt_server import PromptServer

        limits, cap = self.limits, self.limits.cap()
        protocol = functools.partial(GuardedProtocol, limits=limits, cap=cap)
        config = uvicorn.Config(
            create_app(service, self.account, self.key, limits.body_timeout),
            http=cast(Any, protocol),  # uvicorn calls it like a protocol class
            # asyncio accepts up to ``backlog`` sockets in one go, before any is served: no
            # more than the cap, so a burst of connections cannot use up the descriptors.
            backlog=cap,
            lifespan="off",
            log_config=None,
            log_level="info" if self.access_log else "warning",
            access_log=self.access_log,
            timeout_graceful_shutdown=5,
        )
        self._server = PromptServer(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"batch-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def _take_lock(self) -> IO[bytes]:
        data = self.data_dir
        try:
            data.mkdir(parents=True, exist_ok=True)
            handle = (data / LOCK_NAME).open("ab")
        except OSError as exc:
            raise UsageError(
                f"cannot keep the emulator's state in {data}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise UsageError(
                f"another emulator is already using {data}; stop it or give another data directory"
            ) from None
        return handle

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP, and without it every keep-alive GET waits ~40 ms (Nagle vs delayed ACK).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise UsageError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        sock.listen(128)
        return sock

    def _wait_started(self) -> None:
        # uvicorn offers no readiness callback; its ``started`` flag flips once it serves.
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if self._thread is None or not self._thread.is_alive():
                self.stop()
                raise BackendError("the emulator's HTTP server failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise BackendError("the emulator's HTTP server did not start in time")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving, stop the state (killing running tasks), release the port."""
        if self._server is not None:
            self._server.request_exit()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._service is not None:
            self._service.close()
            self._service = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._lock is not None:
            self._lock.close()  # closing the only descriptor drops the flock
            self._lock = None
        if self._temp_dir is not None:
            trees.discard(self._temp_dir)
            self._temp_dir = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
