"""Local compute nodes: identity, lifecycle state, directory layout and AZ_BATCH_* variables.

Each node has the directory tree of a real Linux Batch node under
``<data_dir>/nodes/<pool>/<node>/``: ``startup/``, ``shared/``, ``workitems/<job>/job-1/<task>/``
(``stdout.txt``, ``stderr.txt``, ``wd/``), ``applications/``, ``fsmounts/``, ``volatile/``.
Tasks run as the emulator's user whatever their ``userIdentity`` (autoUser admin or nonadmin):
there is no other local account to switch to. Their environment is a minimal inherited base
(PATH, HOME, LANG, TMPDIR) plus the AZ_BATCH_* variables and the task's own settings, never the
emulator's full environment (which may hold secrets).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchflow.emulator import shapes
from batchflow.emulator.kinds import Json, NodeState, PrepState

log = logging.getLogger("batchflow.emulator")
INHERITED_ENV = ("PATH", "HOME", "LANG", "TMPDIR")
RESERVED_DISK_BYTES = "1000000"


def node_id(pool_id: str, index: int, generation: int, dedicated: bool) -> str:
    """A stable, real-looking node id (``tvmps_<64 hex>_d`` / ``_p`` for spot)."""
    digest = hashlib.sha256(f"{pool_id.lower()}|{index}|{generation}".encode()).hexdigest()
    return f"tvmps_{digest}_{'d' if dedicated else 'p'}"


AGENT_LOG_LINES = 2_000


@dataclass(frozen=True)
class NodeUser:
    """A user account added to a node: what the service keeps of it (a password's salted
    hash, to tell an update that sets one; never the password)."""

    name: str
    is_admin: bool
    expiry_time: str | None
    password_hash: str | None
    ssh_public_key: str | None


@dataclass
class Node:
    """One local node. Mutated only under the service lock."""

    pool_id: str
    id: str
    index: int
    generation: int
    dedicated: bool
    slots: int
    root: Path
    vm_size: str
    state: NodeState = NodeState.CREATING
    state_time: str = field(default_factory=shapes.now)
    allocation_time: str = field(default_factory=shapes.now)
    used_slots: int = 0
    running_tasks: int = 0
    total_run: int = 0
    total_succeeded: int = 0
    leaving: bool = False
    # disablescheduling: no new task lands here until enablescheduling.
    scheduling_disabled: bool = False
    boot_time: str = field(default_factory=shapes.now)
    # Bumped when a reboot, reimage or deallocation takes the node down: a start task of an
    # earlier boot that is still retrying stops there and reports nothing.
    boots: int = 0
    # Users added through the node user API, by name: never their password, only its hash.
    users: dict[str, NodeUser] = field(default_factory=dict)
    # The pool's taskSchedulingPolicy: nodeFillType pack, jobDefaultOrder creationtime.
    pack: bool = False
    jobs_by_creation: bool = False
    start_task_info: Json | None = None
    # The pool's image (the node's virtualMachineInfo shows what it booted).
    image_reference: Json = field(default_factory=dict)
    # The start task's process while it runs (an executor.Process), to kill on removal.
    start_process: Any = None
    # Job preparation per job id (lower-cased).
    prep: dict[str, PrepState] = field(default_factory=dict)
    prep_locks: dict[str, threading.Lock] = field(default_factory=dict)
    # The emulator's log lines about this node (epoch seconds, text), the newest kept: what
    # uploadbatchservicelogs uploads. About 170 bytes a line and four lines a task: 2,000
    # (the last ~500 tasks) keep a node's share of memory small (10,000 cost 1.7 MB a node).
    agent_log: deque[tuple[float, str]] = field(
        default_factory=lambda: deque(maxlen=AGENT_LOG_LINES), repr=False
    )
    # The executionInfo of each job preparation / release task run here, by (job id lower-
    # cased, "jobPreparationTask" | "jobReleaseTask"): what the job's status listing shows.
    job_task_runs: dict[tuple[str, str], Json] = field(default_factory=dict)
    _env: dict[str, str] = field(default_factory=dict, repr=False)
    _env_key: tuple[str, str] | None = field(default=None, repr=False)

    def apply_policy(self, pool: Json) -> None:
        """Carry the pool's slots and taskSchedulingPolicy onto this node."""
        policy = pool.get("taskSchedulingPolicy") or {}
        self.slots = int(pool.get("taskSlotsPerNode") or 1)
        self.pack = shapes.any_of(policy.get("nodeFillType"), "pack")
        self.jobs_by_creation = shapes.any_of(policy.get("jobDefaultOrder"), "creationtime")
        vm_config = pool.get("virtualMachineConfiguration") or {}
        self.image_reference = dict(vm_config.get("imageReference") or {})

    def set_state(self, state: NodeState) -> None:
        self.state = state
        self.state_time = shapes.now()
        self.note(f"state {self.public_state()}")

    def note(self, message: str) -> None:
        """Log ``message`` about this node, and keep it with the node's own log lines."""
        self.agent_log.append((time.time(), message))
        log.debug("node %s/%s: %s", self.pool_id, self.id, message)

    def schedulable(self) -> bool:
        # The only state the scheduler places tasks in (shown as idle or running).
        return self.state == NodeState.READY and not self.leaving and not self.scheduling_disabled

    def free_slots(self) -> int:
        return self.slots - self.used_slots if self.schedulable() else 0

    def public_state(self) -> NodeState:
        if self.leaving:
            return NodeState.LEAVING_POOL
        if self.state == NodeState.READY:
            return NodeState.RUNNING if self.running_tasks else NodeState.IDLE
        return self.state

    def prep_lock(self, job_id: str) -> threading.Lock:
        return self.prep_locks.setdefault(job_id.lower(), threading.Lock())

    # -- layout -----------------------------------------------------------------------------
    def make_dirs(self) -> None:
        for sub in ("startup/wd", "shared", "workitems", "applications", "fsmounts", "volatile"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def job_dir(self, job_id: str) -> Path:
        return Path(f"{self.root}/workitems/{job_id}/job-1")

    def task_dir(self, job_id: str, task_id: str) -> Path:
        # One string join: this is on the per-task hot path.
        return Path(f"{self.root}/workitems/{job_id}/job-1/{task_id}")

    # -- environment ------------------------------------------------------------------------
    def env(self, account_name: str, account_url: str) -> dict[str, str]:
        """Base environment of every task on this node (start task included): a fresh copy
        of a dict built once per node and account URL."""
        key = (account_name, account_url)
        if self._env_key != key:
            self._env = self._build_env(account_name, account_url)
            self._env_key = key
        return dict(self._env)

    def _build_env(self, account_name: str, account_url: str) -> dict[str, str]:
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        env.update(
            {
                "AZ_BATCH_ACCOUNT_NAME": account_name,
                "AZ_BATCH_ACCOUNT_URL": account_url,
                "AZ_BATCH_POOL_ID": self.pool_id,
                "AZ_BATCH_NODE_ID": self.id,
                "AZ_BATCH_NODE_IS_DEDICATED": "true" if self.dedicated else "false",
                "AZ_BATCH_NODE_ROOT_DIR": str(self.root),
                "AZ_BATCH_NODE_SHARED_DIR": str(self.root / "shared"),
                "AZ_BATCH_NODE_STARTUP_DIR": str(self.root / "startup"),
                "AZ_BATCH_NODE_MOUNTS_DIR": str(self.root / "fsmounts"),
                "AZ_BATCH_TASK_RESERVED_EPHEMERAL_DISK_SPACE_BYTES": RESERVED_DISK_BYTES,
            }
        )
        return env

    def doc(self, pool_url: str) -> Json:
        """The REST ``BatchNode``."""
        doc: Json = {
            "id": self.id,
            "url": f"{pool_url}/nodes/{self.id}",
            "state": self.public_state(),
            "schedulingState": "disabled" if self.scheduling_disabled else "enabled",
            "stateTransitionTime": self.state_time,
            "lastBootTime": self.boot_time,
            "allocationTime": self.allocation_time,
            "ipAddress": f"10.0.0.{4 + self.index % 250}",
            # Required in the 2025-06-01 BatchNode: a private (ULA) twin of the IPv4 one.
            "ipv6Address": f"fd00::{4 + self.index % 250}",
            "affinityId": f"TVM:{self.id}",
            "vmSize": self.vm_size,
            "totalTasksRun": self.total_run,
            "runningTasksCount": self.running_tasks,
            "runningTaskSlotsCount": self.used_slots,
            "totalTasksSucceeded": self.total_succeeded,
            "isDedicated": self.dedicated,
            "virtualMachineInfo": {"imageReference": self.image_reference},
            "nodeAgentInfo": {
                "version": "batchflow-emulator",
                "lastUpdateTime": self.allocation_time,
            },
        }
        if self.start_task_info is not None:
            doc["startTaskInfo"] = self.start_task_info
        return doc


def with_settings(env: dict[str, str], *settings: list[Json] | None) -> dict[str, str]:
    """``env`` plus REST ``environmentSettings`` lists (later lists win)."""
    out = dict(env)
    for items in settings:
        for item in items or []:
            out[str(item["name"])] = str(item.get("value") or "")
    return out
