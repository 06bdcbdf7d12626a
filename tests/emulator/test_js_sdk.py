"""The JavaScript SDK for Batch (@azure/batch from npm, a dev dependency in package.json) drives
the emulator end to end over plain http on loopback: pools, nodes, jobs, tasks and files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SDK = HERE.parent.parent / "node_modules" / "@azure" / "batch" / "package.json"


def _node() -> str:
    node = shutil.which("node")
    if node is None or not SDK.exists():
        if os.environ.get("CI"):  # .ci/run installs both: a missing one is a broken CI
            raise AssertionError(f"node or {SDK} is missing")
        pytest.skip("node or @azure/batch is missing: run npm install")
    return node


def test_js_sdk_scenario(emulator: Any) -> None:
    node = _node()
    proc = subprocess.run(
        [node, HERE / "js_sdk_scenario.cjs", emulator.url, emulator.account, emulator.key],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads(SDK.read_text())["version"].startswith("10.")
    assert seen["apiVersion"] == "2022-10-01.16.0"
    assert seen["poolDup"] == "PoolExists"
    assert seen["pool"] == ["steady", 2, 2]
    assert seen["poolExists"] == [True, False]
    assert seen["poolIds"] == ["pjs"]
    assert seen["metadata"] == [["stage", "2"]]
    assert seen["patchMissing"] == "PoolNotFound"
    assert seen["node"] == [True, "enabled", True]
    assert "startup/stdout.txt" in seen["nodeFiles"]
    assert seen["startTaskStdout"] == "ready\n"
    assert seen["jobDup"] == "JobExists"
    assert seen["jobPriority"] == 9
    assert seen["collection"] == ["success"] * 20
    assert seen["counts"] == [0, 0, 23, 21, 2]
    assert seen["pagedIds"] == 23
    assert seen["t0"] == ["completed", 0, "success", "pjs"]
    assert seen["fails"] == [4, "usererror"]
    assert seen["slow"] == ["failure", "TaskEnded"]
    assert seen["after"] == "success"
    assert seen["failedIds"] == ["fails", "slow"]
    assert seen["taskMissing"] == "TaskNotFound"
    assert (seen["stdout"], seen["stderr"]) == ("hello t3\n", "oops\n")
    assert seen["stdoutLength"] == len("hello t3\n")
    assert {"stdout.txt", "stderr.txt"} <= set(seen["taskFiles"])
    assert seen["fileMissing"] == 404  # a HEAD's error has no body, only its status
    # A download's error body is a stream the SDK does not parse: the status is what it sees.
    assert seen["fileConditions"] == [304, 304, 412, 304, None]
    assert seen["fileDeletes"] == [
        ["wd/empty", "wd/out", "wd/out/deep", "wd/out/deep/b.txt"],
        "FileNotFound",  # already gone
        "OperationInvalidForCurrentState",  # a directory with files needs recursive
        None,  # an empty one does not
        None,
        [],
    ]
    assert seen["reactivated"] == 4  # ran again, and failed again
    assert seen["deletedTask"] == "TaskNotFound"
    assert seen["afterResize"] == 1
    assert seen["wrongKey"] == "AuthenticationFailed"
    # A disabled job runs nothing; enabled, it runs what waited.
    assert seen["jobControl"] == ["active", "active", "JobNotFound"]
    assert seen["scheduleDup"] == "JobScheduleExists"
    assert seen["scheduleExists"] == [True, False]
    assert seen["scheduleIds"] == ["sjs"]
    assert seen["firstJob"] == ["sjs:job-1", "scheduled sjs:job-1\n"]
    assert seen["schedule"] == ["active", 2, "sjs:job-1", True]
    assert seen["scheduleMetadata"] == [["stage", "2"]]
    assert seen["scheduleUpdated"] == [4, []]  # an update replaces: no metadata given, none kept
    assert seen["scheduleDisabled"] == "disabled"
    assert seen["secondJob"] == [["sjs:job-1", "sjs:job-2"], 4, "scheduled sjs:job-2\n"]
    assert seen["scheduleTerminated"] == "completed"
    assert seen["scheduleDeleted"] == ["JobNotFound", "JobScheduleNotFound"]
    assert seen["scheduling"] == ["disabled", "enabled"]
    assert seen["remoteLogin"] == ["127.0.0.1", "number"]
    assert seen["users"] == ["NodeUserExists", "NodeUserNotFound"]
    assert seen["maintenance"] == ["idle", "NodeNotFound"]
    assert seen["nodeFileDelete"] == [False, True, "FileNotFound"]
    assert seen["supportedImages"] is True
    assert seen["nodeCounts"] == [["pjs", 1, 1, 0]]
    # Stopped where it got: as many local nodes as the machine has cores, up to 3.
    target, current = seen["stopResize"]
    assert target == current and 2 <= current <= 3
    assert seen["removeNodes"] == [current - 1, current - 1]
