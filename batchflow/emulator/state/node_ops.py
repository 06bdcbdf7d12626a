"""The node operations of the API: removing chosen nodes from a pool, stopping a resize,
rebooting, reimaging, deallocating and starting a node, its scheduling, its users, its
remote login settings, its extensions and its logs; and the account's pool usage metrics.

What a node does over time (boot, drain, wipe) is the node side's (``core.agent``); what is
decided here is whether the operation is allowed in the node's or pool's state, answered with
the service's 409 otherwise, as the API reference says: reboot, reimage and deallocate need
an idle or running node, start a deallocated one, removenodes a steady pool.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import re
import secrets
import urllib.parse
import uuid
from collections.abc import Iterable

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import AllocationState, Json, KillReason, NodeAction, NodeState
from batchflow.emulator.state import quotas, rows, tasks
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.filter import filter_docs
from batchflow.emulator.state.nodes import Node, NodeUser
from batchflow.emulator.state.pools import find_node
from batchflow.emulator.state.store import Page
from batchflow.emulator.state.user_names import check_user_name

MAX_REMOVE = 100  # nodes one removenodes request may name
UPLOAD_CONNECT_SECONDS = 5  # the log upload: to reach the storage endpoint
UPLOAD_READ_SECONDS = 10  # and for its answer (one small blob)
MAX_USERS_PER_NODE = 100  # users kept in memory per node (the service documents no limit)
USAGE_INTERVAL = 30 * 60  # the service aggregates usage metrics per half hour
USER_DEFAULT_LIFETIME = _dt.timedelta(days=1)
REMOTE_LOGIN_BASE_PORT = 50000


def stop_runs(core: Core, node: Node, option: str) -> None:
    """Stop the tasks running on ``node`` (lock held): ``terminate`` completes them as
    terminated, ``requeue`` puts them back in their job's queue (requeueCount + 1); any other
    option lets them finish."""
    for run in core.runs_of(lambda r: r.node is node):
        if option == "terminate":
            run.kill(KillReason.TERMINATE)
        elif option == "requeue":
            run.kill(KillReason.REQUEUE)
            del core.running[(run.job_id.lower(), run.task_id.lower())]
            tasks.requeue(core, run.job_id, run.task_id)


# --- pools ---------------------------------------------------------------------------------
def remove_nodes(core: Core, pool_id: str, body: Json) -> None:
    """Take the named nodes out of a steady pool; its targets drop by as many. The pool shows
    ``resizing`` until they are gone, then ``steady``."""
    names = [str(n) for n in body["nodeList"]]
    if not names or len(names) > MAX_REMOVE:
        raise errors.invalid_property_value(
            "nodeList", len(names), f"Name from 1 to {MAX_REMOVE} nodes."
        )
    option = str(body.get("nodeDeallocationOption") or "requeue")
    with core.lock:
        pool = core.pool(pool_id)
        if pool.get("allocationState") != AllocationState.STEADY:
            raise errors.pool_being_resized(pool_id)
        picked = [find_node(core, pool_id, name) for name in dict.fromkeys(names)]
        dedicated = sum(n.dedicated for n in picked)

        def resizing(doc: Json) -> None:
            doc["targetDedicatedNodes"] = max(0, int(doc["targetDedicatedNodes"]) - dedicated)
            doc["targetLowPriorityNodes"] = max(
                0, int(doc["targetLowPriorityNodes"]) - (len(picked) - dedicated)
            )
            if "resizeTimeout" in body:
                doc["resizeTimeout"] = body["resizeTimeout"]
            shapes.set_state(doc, AllocationState.RESIZING, key="allocationState")

        core.update_pool(pool_id, resizing)
        for node in picked:
            if not node.leaving:
                node.note(f"removed from the pool ({option})")
                core.agent.remove_node(node, option)
        core.agent.allocate(pool_id, option)


def stop_resize(core: Core, pool_id: str) -> None:
    """Stop a resize where it got: the targets become the nodes the pool has, through
    ``stopping`` to ``steady``. Local allocation is immediate, so a resize has always got as
    far as it will; the targets still drop to what the machine and quotas granted."""
    with core.lock:
        core.pool(pool_id)

        def stopping(doc: Json) -> None:
            shapes.set_state(doc, AllocationState.STOPPING, key="allocationState")

        def steady(doc: Json) -> None:
            doc["targetDedicatedNodes"] = int(doc.get("currentDedicatedNodes") or 0)
            doc["targetLowPriorityNodes"] = int(doc.get("currentLowPriorityNodes") or 0)
            shapes.set_state(doc, AllocationState.STEADY, key="allocationState")

        core.update_pool(pool_id, stopping)
        core.update_pool(pool_id, steady)


# --- one node ------------------------------------------------------------------------------
_NEEDS_READY = frozenset({NodeState.IDLE, NodeState.RUNNING})


def node_action(core: Core, pool_id: str, node_id: str, action: NodeAction, option: str) -> None:
    """Reboot, reimage or deallocate an idle or running node (409 otherwise)."""
    with core.lock:
        node = find_node(core, pool_id, node_id)
        state = node.public_state()
        if state not in _NEEDS_READY:
            raise errors.node_state_conflict(state, str(action))
        core.agent.take_down(node, action, option)


def start_node(core: Core, pool_id: str, node_id: str) -> None:
    """Start a deallocated node (409 otherwise)."""
    with core.lock:
        node = find_node(core, pool_id, node_id)
        state = node.public_state()
        if state != NodeState.DEALLOCATED:
            raise errors.node_state_conflict(state, "start")
        core.agent.start_node(node)


def set_scheduling(
    core: Core, pool_id: str, node_id: str, enabled: bool, option: str = "requeue"
) -> None:
    """Enable or disable task scheduling on a node; disabling stops its running tasks as
    ``option`` says (requeue, terminate, or let them finish: taskcompletion)."""
    with core.lock:
        node = find_node(core, pool_id, node_id)
        if node.scheduling_disabled != enabled:
            raise errors.node_already_in_scheduling_state("enabled" if enabled else "disabled")
        node.scheduling_disabled = not enabled
        node.note(f"scheduling {'enabled' if enabled else f'disabled ({option})'}")
        if enabled:
            core.wake()
        else:
            stop_runs(core, node, option)


def _password_hash(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def _expiry(value: object) -> str:
    if value is None:
        when = _dt.datetime.now(_dt.timezone.utc) + USER_DEFAULT_LIFETIME
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = str(value)
    try:
        _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid_property_value(
            "expiryTime", text, "Expected an ISO 8601 date and time."
        ) from None
    return text


def _user(name: str, body: Json, is_admin: bool) -> NodeUser:
    password = body.get("password")
    if password is not None and (not isinstance(password, str) or "\x00" in password):
        # Named, never repeated: a password does not belong in an error message.
        raise errors.invalid_property_value("password", "(hidden)", "Expected a string.")
    return NodeUser(
        name=name,
        is_admin=is_admin,
        expiry_time=_expiry(body.get("expiryTime")),
        password_hash=_password_hash(password) if password else None,
        ssh_public_key=str(body["sshPublicKey"]) if body.get("sshPublicKey") else None,
    )


def add_user(core: Core, pool_id: str, node_id: str, body: Json) -> None:
    """Add a user account to a node (409 NodeUserExists for a name it has)."""
    name = str(body["name"])
    check_user_name(name)
    user = _user(name, body, bool(body.get("isAdmin", False)))
    with core.lock:
        node = find_node(core, pool_id, node_id)
        if name.lower() in node.users:
            raise errors.node_user_exists(name)
        if len(node.users) >= MAX_USERS_PER_NODE:
            raise errors.node_users_limit(MAX_USERS_PER_NODE)
        node.users[name.lower()] = user
        node.note(f"user {name} added")


def update_user(core: Core, pool_id: str, node_id: str, name: str, body: Json) -> None:
    """Replace a user's password, SSH key and expiry (what is not given is reset)."""
    with core.lock:
        node = find_node(core, pool_id, node_id)
        old = node.users.get(name.lower())
        if old is None:
            raise errors.node_user_not_found(name)
        node.users[name.lower()] = _user(old.name, body, old.is_admin)
        node.note(f"user {old.name} updated")


def delete_user(core: Core, pool_id: str, node_id: str, name: str) -> None:
    with core.lock:
        node = find_node(core, pool_id, node_id)
        if node.users.pop(name.lower(), None) is None:
            raise errors.node_user_not_found(name)
        node.note(f"user {name} deleted")


def remote_login(core: Core, pool_id: str, node_id: str) -> Json:
    """Where one would log in: the local machine, at a port per node (as Batch's NAT gives
    each node one from 50000 up). No SSH server is run for it."""
    node = find_node(core, pool_id, node_id)
    return {
        "remoteLoginIPAddress": "127.0.0.1",
        "remoteLoginPort": REMOTE_LOGIN_BASE_PORT + node.index,
    }


def node_log(core: Core, pool_id: str, node_id: str, since: float, until: float | None) -> str:
    """The emulator's log lines about a node in [since, until], one per line."""
    with core.lock:
        node = find_node(core, pool_id, node_id)
        lines = list(node.agent_log)
    return "".join(
        f"{_iso(at)} {text}\n"
        for at, text in lines
        if at >= since and (until is None or at <= until)
    )


def upload_logs(core: Core, pool_id: str, node_id: str, body: Json) -> Json:
    """Upload the emulator's log lines about a node, from ``startTime`` to ``endTime``, as one
    blob under ``<pool>/<node>/<uuid>/`` of the container at ``containerUrl`` (a SAS URL)."""
    url = str(body["containerUrl"])
    try:
        since = _epoch(str(body["startTime"]))
        until = _epoch(str(body["endTime"])) if body.get("endTime") else None
    except ValueError:
        raise errors.invalid_property_value(
            "startTime", body["startTime"], "Expected an ISO 8601 date and time."
        ) from None
    text = node_log(core, pool_id, node_id, since, until)
    folder = f"{pool_id}/{node_id}/{uuid.uuid4()}/"
    _upload(url, f"{folder}batchflow-emulator.log", text.encode())
    return {"virtualDirectoryName": folder, "numberOfFilesUploaded": 1}


def _upload(container_url: str, name: str, data: bytes) -> None:
    """One blob into a container given by its (SAS) URL; a refusal names the URL without its
    query string (the SAS is a secret)."""
    from azure.core.exceptions import AzureError
    from azure.storage.blob import ContainerClient

    parts = urllib.parse.urlsplit(container_url)
    # Neither the query (a SAS) nor a user:password@ of the netloc: both are secrets.
    where = parts.netloc.rpartition("@")[2]
    bare = urllib.parse.urlunsplit((parts.scheme, where, parts.path, "", ""))
    if parts.scheme not in ("http", "https") or not where:
        raise errors.invalid_property_value("containerUrl", bare, "Expected an http(s) URL.")
    try:
        # One try, short timeouts: the SDK's defaults (4 tries, 60 s reads) held the request
        # for minutes on an endpoint that never answers; the caller is waiting on it.
        with ContainerClient.from_container_url(
            container_url,
            retry_total=0,
            connection_timeout=UPLOAD_CONNECT_SECONDS,
            read_timeout=UPLOAD_READ_SECONDS,
        ) as client:
            client.upload_blob(name, data, overwrite=True)
    except (AzureError, ValueError) as exc:
        reason = f"The logs could not be uploaded to {bare}: {type(exc).__name__}"
        raise errors.invalid_property_value("containerUrl", bare, reason) from None


def node_extensions(core: Core, pool_id: str, node_id: str) -> list[Json]:
    """The pool's VM extensions as installed on the node: recorded, all succeeded (none
    really runs). Protected settings are never returned."""
    pool = core.pool(pool_id)
    node = find_node(core, pool_id, node_id)
    config = pool.get("virtualMachineConfiguration") or {}
    out = []
    for ext in config.get("extensions") or []:
        shown = {k: v for k, v in ext.items() if k != "protectedSettings"}
        status = {
            "code": "ProvisioningState/succeeded",
            "level": "Info",
            "displayStatus": "Provisioning succeeded",
            "time": node.allocation_time,
        }
        out.append(
            {
                "provisioningState": "Succeeded",
                "vmExtension": shown,
                "instanceView": {"name": ext["name"], "statuses": [status]},
            }
        )
    return out


def node_extension(core: Core, pool_id: str, node_id: str, name: str) -> Json:
    for ext in node_extensions(core, pool_id, node_id):
        if ext["vmExtension"]["name"] == name:
            return ext
    raise errors.resource_not_found("The specified extension does not exist on the node.")


# --- the account ---------------------------------------------------------------------------
def _iso(epoch: float) -> str:
    stamp = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(text: str) -> float:
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def usage_metrics(
    core: Core,
    start: str | None,
    end: str | None,
    filter: str | None,
    token: str | None,
    limit: int,
) -> Page:
    """Core hours per pool, VM size and half-hour interval, from the nodes' real allocated
    time (a deallocated node counts none). Without a start time: from the first node the
    emulator allocated (its whole history is at hand at once, unlike the service's delay);
    without an end time: up to now, the current interval included."""
    now = _dt.datetime.now(_dt.timezone.utc).timestamp()
    try:
        since = _epoch(start) if start else (rows.first_node_usage(core.store) or now)
        until = _epoch(end) if end else now
    except ValueError:
        raise errors.invalid_query_parameter(
            "startTime" if start else "endtime", str(start or end), "Expected a date and time."
        ) from None
    first = math.floor(since / USAGE_INTERVAL) * USAGE_INTERVAL
    stretches = rows.node_usage(core.store, first, until)
    docs = [{"id": m["poolId"], "state": "", "doc": m} for m in _aggregate(stretches, first, now)]
    page = filter_docs(docs, filter, {"poolId": "id"}, int(token or 0), limit)
    return Page([d["doc"] for d in page.items], page.next_token)


def _aggregate(stretches: Iterable[rows.NodeUsage], first: float, now: float) -> list[Json]:
    hours: dict[tuple[float, str, str], float] = {}
    for s in stretches:
        cores = _cores(s.vm_size)
        end = now if s.ended is None else s.ended
        slot = max(first, math.floor(s.started / USAGE_INTERVAL) * USAGE_INTERVAL)
        while slot < end:
            overlap = min(end, slot + USAGE_INTERVAL) - max(s.started, slot)
            if overlap > 0:
                key = (slot, s.pool_id, s.vm_size)
                hours[key] = hours.get(key, 0.0) + overlap * cores / 3600
            slot += USAGE_INTERVAL
    return [
        {
            "poolId": pool_id,
            "startTime": _iso(slot),
            "endTime": _iso(slot + USAGE_INTERVAL),
            "vmSize": vm_size,
            "totalCoreHours": round(total, 6),
        }
        for (slot, pool_id, vm_size), total in sorted(hours.items())
    ]


def _cores(vm_size: str) -> int:
    size = quotas.catalog().get(vm_size.lower())
    return size.cores if size else 1


_APP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_APP_VERSION = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def parse_applications(flags: Iterable[str]) -> tuple[Json, ...]:
    """The account's applications from ``ID`` or ``ID=VERSION[,VERSION...]`` items (the
    emulator's ``--application`` flag); ValueError naming a bad one."""
    apps: dict[str, Json] = {}
    for flag in flags:
        app_id, _, versions = flag.partition("=")
        names = [v.strip() for v in versions.split(",") if v.strip()]
        if not _APP_ID.fullmatch(app_id) or not all(_APP_VERSION.fullmatch(v) for v in names):
            raise ValueError(
                f"{flag!r} is not ID[=VERSION,...] (ids: letters, digits, - and _; versions "
                "also .; 64 characters at most)"
            )
        if app_id.lower() in apps:
            raise ValueError(f"application {app_id!r} is given twice")
        apps[app_id.lower()] = {"id": app_id, "displayName": app_id, "versions": names}
    return tuple(apps.values())


def application(core: Core, app_id: str) -> Json:
    for app in core.applications:
        if str(app["id"]).lower() == app_id.lower():
            return app
    raise errors.application_not_found(app_id)


def list_subtasks(core: Core, job_id: str, task_id: str) -> list[Json]:
    """The subtasks of a multi-instance task: none, since the emulator refuses those."""
    core.task(job_id, task_id)
    return []
