"""A small client of the emulator's control surface (``/_emulator/...``), for tests.

Standard library only (urllib), SharedKey-signed with the same ``auth.sign`` the emulator
verifies with. Failures raise ``batchflow.errors.BackendError`` carrying the service's code.
"""

from __future__ import annotations

import email.utils
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import urlsplit

from batchflow.emulator.http import auth
from batchflow.errors import BackendError

API_VERSION = "2025-06-01"


class ControlClient:
    """Fault injection, node loss, reset and request counters of one running emulator."""

    def __init__(self, url: str, account: str, key: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.account = account
        self._key = auth.decode_key(key)
        self.timeout = timeout

    def set_faults(
        self,
        error_rate: float = 0.0,
        status: int = 503,
        drop_rate: float = 0.0,
        operations: Iterable[str] = (),
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Fail ``error_rate`` of requests with ``status``, drop ``drop_rate`` of connections,
        for the listed operation ids (all when empty). Zero rates turn faults off; a ``seed``
        makes which requests fail reproducible."""
        body: dict[str, Any] = {
            "errorRate": error_rate,
            "status": status,
            "dropRate": drop_rate,
            "operations": list(operations),
        }
        if seed is not None:
            body["seed"] = seed
        return self._call("POST", "/_emulator/faults", body)

    def clear_faults(self) -> dict[str, Any]:
        """No more injected faults."""
        return self.set_faults()

    def lose_node(self, pool: str, node: str | None = None) -> str:
        """Lose a node of ``pool`` (one running a task when ``node`` is None); its id."""
        body: dict[str, Any] = {"poolId": pool}
        if node is not None:
            body["nodeId"] = node
        return str(self._call("POST", "/_emulator/nodes/lose", body)["nodeId"])

    def set_clock_speed(self, speed: float) -> None:
        """Run the emulator's clock ``speed`` times faster than real time (autoscale samples
        every 30 emulated seconds, evaluations at each pool's interval, job schedules'
        recurrences)."""
        self._call("POST", "/_emulator/clock", {"speed": speed})

    def run_job_schedule(self, schedule: str) -> dict[str, Any]:
        """Make an active schedule's next job now; the schedule's executionInfo after."""
        body = {"jobScheduleId": schedule}
        return cast(
            dict[str, Any], self._call("POST", "/_emulator/schedules/run", body)["executionInfo"]
        )

    def evaluate_autoscale(self, pool: str) -> dict[str, Any]:
        """Sample ``pool`` and evaluate its formula now, applying the targets; the run."""
        return cast(
            dict[str, Any],
            self._call("POST", "/_emulator/autoscale/evaluate", {"poolId": pool})["autoScaleRun"],
        )

    def set_quotas(
        self,
        profile: str | None = None,
        families: dict[str, int] | None = None,
        dedicated: int | None = None,
        low_priority: int | None = None,
        active_jobs: int | None = None,
    ) -> dict[str, Any]:
        """Core quotas from the next resize on: a ``profile`` ("default", "new-account"),
        dedicated cores per VM family, the dedicated total and the spot total; and the active
        jobs and job schedules quota, from the next job or schedule added on."""
        body: dict[str, Any] = {}
        if profile is not None:
            body["profile"] = profile
        if families:
            body["dedicatedCoresPerFamily"] = [
                {"family": k, "cores": v} for k, v in families.items()
            ]
        if dedicated is not None:
            body["dedicatedCores"] = dedicated
        if low_priority is not None:
            body["lowPriorityCores"] = low_priority
        if active_jobs is not None:
            body["activeJobAndJobScheduleQuota"] = active_jobs
        return self._call("POST", "/_emulator/quotas", body)

    def quotas(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/quotas", None)

    def fail_allocations(self, failure: str | None = "AllocationFailed") -> dict[str, Any]:
        """Every resize that would add nodes fails with ``failure`` ("AllocationFailed",
        "AllocationTimedout"; None: allocations succeed again)."""
        return self._call("POST", "/_emulator/allocation", {"failure": failure or "none"})

    def preempt(
        self,
        pool: str,
        node: str | None = None,
        count: int = 1,
        recover_after: float | None = None,
    ) -> list[str]:
        """Preempt ``count`` spot nodes of ``pool`` (or ``node``), busy ones first; their ids.
        A fresh node replaces each after ``recover_after`` seconds (0: never)."""
        body: dict[str, Any] = {"poolId": pool, "count": count}
        if node is not None:
            body["nodeId"] = node
        if recover_after is not None:
            body["recoverAfterSeconds"] = recover_after
        return [str(i) for i in self._call("POST", "/_emulator/nodes/preempt", body)["nodeIds"]]

    def preempt_every(self, pool: str, seconds: float, recover_after: float | None = None) -> None:
        """Preempt one spot node of ``pool`` every ``seconds`` (0: stop)."""
        body: dict[str, Any] = {"poolId": pool, "everySeconds": seconds}
        if recover_after is not None:
            body["recoverAfterSeconds"] = recover_after
        self._call("POST", "/_emulator/nodes/preempt", body)

    def make_unusable(self, pool: str, node: str | None = None) -> str:
        """A node of ``pool`` (one running a task when None) becomes unusable; its id."""
        body: dict[str, Any] = {"poolId": pool}
        if node is not None:
            body["nodeId"] = node
        return str(self._call("POST", "/_emulator/nodes/unusable", body)["nodeId"])

    def set_node_faults(
        self,
        pool: str | None = None,
        start_task_exit_codes: Iterable[int] | None = None,
        unusable_at_boot: int | None = None,
    ) -> dict[str, Any]:
        """For nodes not booted yet (of ``pool``, or any): the next start tasks end with these
        exit codes (0: the real start task runs), the next ``unusable_at_boot`` boot unusable."""
        body: dict[str, Any] = {}
        if pool is not None:
            body["poolId"] = pool
        if start_task_exit_codes is not None:
            body["startTaskExitCodes"] = list(start_task_exit_codes)
        if unusable_at_boot is not None:
            body["unusableAtBoot"] = unusable_at_boot
        return self._call("POST", "/_emulator/nodes/faults", body)

    def reset(self) -> None:
        """Forget every pool, job and task; clear faults and counters."""
        self._call("POST", "/_emulator/reset", {})

    def counters(self) -> dict[str, int]:
        """Requests served per REST operation id, e.g. ``{"Job_GetTaskCounts": 7}``."""
        return cast(dict[str, int], self._call("GET", "/_emulator/counters", None))

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        query = f"api-version={API_VERSION}"
        headers = {"ocp-date": email.utils.formatdate(usegmt=True)}
        if data is not None:
            headers["content-type"] = "application/json; odata=minimalmetadata"
            headers["content-length"] = str(len(data))
        raw_path = urlsplit(self.url).path + path
        headers["authorization"] = auth.authorization(
            method, raw_path, query, headers, self.account, self._key
        )
        request = urllib.request.Request(  # noqa: S310 (an http URL the caller gave)
            f"{self.url}{path}?{query}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310
                payload = resp.read()
        except urllib.error.HTTPError as exc:
            raise _backend_error(exc) from None
        except OSError as exc:
            raise BackendError(f"the emulator at {self.url} did not answer: {exc}") from exc
        return cast(dict[str, Any], json.loads(payload)) if payload else {}


def _backend_error(exc: urllib.error.HTTPError) -> BackendError:
    try:
        body = json.loads(exc.read())
        code = str(body.get("code", ""))
        message = str(body.get("message", {}).get("value", "")).split("\n")[0]
    except (ValueError, AttributeError):
        code, message = "", exc.reason
    return BackendError(
        f"emulator control call failed ({exc.code}): {message}",
        code=code,
        request_id=exc.headers.get("request-id", ""),
    )
