"""What a real account does to nodes, driven by the control surface and seen through the real
azure-batch 15.x SDK: spot nodes preempted (tasks requeued, not retried; $PreemptedNodeCount),
unusable nodes, and start tasks that fail on some nodes and not others."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from azure.batch import BatchClient
from azure.batch import models as m

from batchflow.emulator.http.control import ControlClient
from tests.emulator.core_helpers import IMAGE, make_job, make_pool, wait_for


def _control(emulator: Any) -> ControlClient:
    return ControlClient(emulator.url, emulator.account, emulator.key)


def _states(client: BatchClient, pool: str) -> list[str]:
    return sorted(n.state for n in client.list_nodes(pool))


def _sleeper(client: BatchClient, seconds: float) -> None:
    make_job(client, "j", "spot")
    client.create_task(
        "j", m.BatchTaskCreateOptions(id="t", command_line=f"/bin/sh -c 'sleep {seconds}'")
    )
    wait_for("the task running", lambda: client.get_task("j", "t").state == "running")


def test_a_preempted_spot_node_requeues_its_task_and_comes_back(
    batch_client: BatchClient, emulator: Any
) -> None:
    make_pool(batch_client, "spot", 0, wait_idle=False, target_low_priority_nodes=1)
    wait_for("a spot node", lambda: _states(batch_client, "spot") == ["idle"])
    _sleeper(batch_client, 1)
    [node] = _control(emulator).preempt("spot", recover_after=1.0)
    assert [n.state for n in batch_client.list_nodes("spot")] == ["preempted"]
    assert batch_client.get_pool("spot").current_low_priority_nodes == 1  # still counted
    counts = next(iter(batch_client.list_pool_node_counts()))
    assert counts.low_priority.preempted == 1
    task = batch_client.get_task("j", "t")
    assert task.state == "active" and task.execution_info.requeue_count == 1
    assert task.execution_info.retry_count == 0  # a requeue is not a retry
    wait_for("a fresh node", lambda: _states(batch_client, "spot") == ["idle"], timeout=20)
    assert next(iter(batch_client.list_nodes("spot"))).id != node
    wait_for("the task done", lambda: batch_client.get_task("j", "t").state == "completed")
    done = batch_client.get_task("j", "t").execution_info
    assert done.exit_code == 0 and done.requeue_count == 1 and done.retry_count == 0


def test_preemption_at_a_rate_and_in_formulas(batch_client: BatchClient, emulator: Any) -> None:
    control = _control(emulator)
    batch_client.create_pool(
        m.BatchPoolCreateOptions(
            id="spot",
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            enable_auto_scale=True,
            auto_scale_formula="$TargetLowPriorityNodes = 2; $p = $PreemptedNodeCount;",
            auto_scale_evaluation_interval=_dt.timedelta(minutes=5),
        )
    )
    wait_for("two spot nodes", lambda: _states(batch_client, "spot") == ["idle", "idle"])
    control.preempt_every("spot", 0.2, recover_after=0)
    wait_for("both preempted", lambda: _states(batch_client, "spot") == ["preempted"] * 2)
    control.preempt_every("spot", 0)
    run = control.evaluate_autoscale("spot")
    assert "$p=2" in run["results"], run


def test_an_unusable_node_requeues_its_task(batch_client: BatchClient, emulator: Any) -> None:
    make_pool(batch_client, "spot", 1)
    _sleeper(batch_client, 30)
    _control(emulator).make_unusable("spot")
    assert _states(batch_client, "spot") == ["unusable"]
    task = batch_client.get_task("j", "t")
    assert task.state == "active" and task.execution_info.requeue_count == 1


def test_a_start_task_fails_on_some_nodes_only(batch_client: BatchClient, emulator: Any) -> None:
    control = _control(emulator)
    control.set_node_faults("p", start_task_exit_codes=[3])
    control.set_node_faults("q", unusable_at_boot=1)
    start = m.BatchStartTask(command_line="/bin/true", wait_for_success=True)
    make_pool(batch_client, "p", 2, start_task=start, wait_idle=False)
    make_pool(batch_client, "q", 1, start_task=start, wait_idle=False)
    wait_for(
        "the nodes settled",
        lambda: (
            _states(batch_client, "p") == ["idle", "starttaskfailed"]
            and _states(batch_client, "q") == ["unusable"]
        ),
    )
    failed = next(n for n in batch_client.list_nodes("p") if n.state == "starttaskfailed")
    assert failed.start_task_info.exit_code == 3
    stderr = b"".join(batch_client.download_node_file("p", failed.id, "startup/stderr.txt"))
    assert b"exit code 3" in stderr
