"""Autoscale pools through the real azure-batch 15.x SDK: create with a formula, the first
evaluation's targets, enable / disable / evaluate and the service's errors, and a pool that
grows with pending tasks and shrinks when they are done (time compressed by the control)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError

from batchflow.emulator import DEV_ACCOUNT, DEV_KEY
from batchflow.emulator.http.control import ControlClient
from batchflow.emulator.server import EmulatorServer
from batchflow.errors import BackendError
from tests.emulator.core_helpers import IMAGE, make_job, make_pool, wait_for


def _code(fn: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises(HttpResponseError) as info:
        fn()
    return int(info.value.status_code or 0), str(info.value.error.code)


def _autoscale_pool(
    client: BatchClient, formula: str, pool_id: str = "auto", interval: _dt.timedelta | None = None
) -> None:
    client.create_pool(
        m.BatchPoolCreateOptions(
            id=pool_id,
            vm_size="standard_d2s_v3",
            virtual_machine_configuration=IMAGE,
            enable_auto_scale=True,
            auto_scale_formula=formula,
            auto_scale_evaluation_interval=interval,
        )
    )


def _idle_nodes(client: BatchClient, pool_id: str) -> int:
    return sum(1 for n in client.list_nodes(pool_id) if n.state == "idle")


def test_create_evaluates_the_formula_and_sets_the_targets(batch_client: BatchClient) -> None:
    _autoscale_pool(batch_client, "$TargetDedicatedNodes = 1 + 1;\n$Extra = 3;")
    pool = batch_client.get_pool("auto")
    assert pool.enable_auto_scale is True
    assert pool.auto_scale_evaluation_interval == _dt.timedelta(minutes=15)
    assert pool.target_dedicated_nodes == 2
    run = pool.auto_scale_run
    assert run is not None and run.error is None
    assert "$TargetDedicatedNodes=2" in run.results and "$Extra=3" in run.results
    wait_for("two idle nodes", lambda: _idle_nodes(batch_client, "auto") == 2)


def test_create_refuses_a_bad_formula_or_interval(batch_client: BatchClient) -> None:
    with pytest.raises(HttpResponseError) as info:
        _autoscale_pool(batch_client, "$TargetDedicatedNodes = ;")
    assert info.value.status_code == 400
    assert info.value.error.code == "AutoScalingFormulaSyntaxError"
    detail = {d.code: d.message for d in info.value.error.details}
    assert detail["Message"].startswith("Line 1, Col ")
    assert _code(
        lambda: _autoscale_pool(batch_client, "$x = 1;", interval=_dt.timedelta(minutes=4))
    ) == (400, "InvalidPropertyValue")
    assert _code(lambda: batch_client.get_pool("auto")) == (404, "PoolNotFound")


def test_evaluate_enable_disable(batch_client: BatchClient) -> None:
    make_pool(batch_client, "fixed", 1, wait_idle=False)
    evaluate = m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes=1;")
    # Evaluating needs autoscale on the pool.
    assert _code(lambda: batch_client.evaluate_pool_auto_scale("fixed", evaluate)) == (
        409,
        "OperationInvalidForCurrentState",
    )
    _autoscale_pool(batch_client, "$TargetDedicatedNodes = 0;")
    one = "$TargetDedicatedNodes = 1; $y = 2;"
    run = batch_client.evaluate_pool_auto_scale(
        "auto", m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=one)
    )
    assert run.error is None and "$TargetDedicatedNodes=1" in run.results and "$y=2" in run.results
    pool = batch_client.get_pool("auto")  # evaluate changes nothing
    assert pool.target_dedicated_nodes == 0
    assert "$TargetDedicatedNodes=0" in pool.auto_scale_run.results
    bad = m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = (;")
    assert _code(lambda: batch_client.evaluate_pool_auto_scale("auto", bad)) == (
        400,
        "AutoScalingFormulaSyntaxError",
    )
    failing = batch_client.evaluate_pool_auto_scale(
        "auto",
        m.BatchPoolEvaluateAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = "
            "avg($PendingTasks.GetSample(TimeInterval_Minute * 5, 90));"
        ),
    )
    assert failing.error is not None and failing.error.code == "InsufficientSampleData"

    batch_client.enable_pool_auto_scale(
        "auto",
        m.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = 1;",
            auto_scale_evaluation_interval=_dt.timedelta(minutes=5),
        ),
    )
    pool = batch_client.get_pool("auto")
    assert pool.target_dedicated_nodes == 1
    assert pool.auto_scale_evaluation_interval == _dt.timedelta(minutes=5)
    wait_for("one idle node", lambda: _idle_nodes(batch_client, "auto") == 1)

    # Its formula sets its size: a resize is refused until autoscale is disabled.
    resize = m.BatchPoolResizeOptions(target_dedicated_nodes=2)
    assert _code(lambda: batch_client.begin_resize_pool("auto", resize).result()) == (
        409,
        "OperationInvalidForCurrentState",
    )
    batch_client.disable_pool_auto_scale("auto")
    pool = batch_client.get_pool("auto")
    assert pool.enable_auto_scale is False and pool.auto_scale_formula is None
    assert pool.target_dedicated_nodes == 1  # disabling keeps the pool as it is
    batch_client.begin_resize_pool("auto", resize, polling_interval=0.05).result()
    assert batch_client.get_pool("auto").target_dedicated_nodes == 2
    assert _code(lambda: batch_client.evaluate_pool_auto_scale("auto", evaluate)) == (
        409,
        "OperationInvalidForCurrentState",
    )
    # Enabling a pool without autoscale needs a formula.
    assert _code(
        lambda: batch_client.enable_pool_auto_scale("auto", m.BatchPoolEnableAutoScaleOptions())
    ) == (400, "MissingRequiredProperty")
    assert _code(
        lambda: batch_client.enable_pool_auto_scale(
            "nope", m.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$x=1;")
        )
    ) == (404, "PoolNotFound")


def _control(emulator: Any) -> ControlClient:
    return ControlClient(emulator.url, emulator.account, emulator.key)


_PENDING = (
    "$TargetDedicatedNodes = min(2, $PendingTasks.GetSample(1));\n"
    "$NodeDeallocationOption = taskcompletion;"
)


def _add_sleepers(client: BatchClient, count: int, seconds: float) -> None:
    make_job(client, "j", "auto")
    client.create_tasks(
        "j",
        [
            m.BatchTaskCreateOptions(id=f"t{i}", command_line=f"/bin/sh -c 'sleep {seconds}'")
            for i in range(count)
        ],
    )


def test_pool_grows_with_pending_tasks_and_shrinks_when_done(
    batch_client: BatchClient, emulator: Any
) -> None:
    # 600x: a sample every 0.05 s, the 5-minute evaluation every 0.5 s.
    _control(emulator).set_clock_speed(600)
    _autoscale_pool(batch_client, _PENDING, interval=_dt.timedelta(minutes=5))
    assert batch_client.get_pool("auto").target_dedicated_nodes == 0
    _add_sleepers(batch_client, 3, 1.5)
    wait_for(
        "the pool grown to 2 nodes",
        lambda: batch_client.get_pool("auto").current_dedicated_nodes == 2,
        timeout=20,
    )
    wait_for(
        "every task done",
        lambda: all(t.state == "completed" for t in batch_client.list_tasks("j")),
        timeout=30,
    )
    wait_for(
        "the pool shrunk to 0 nodes",
        lambda: (
            batch_client.get_pool("auto").target_dedicated_nodes == 0
            and not list(batch_client.list_nodes("auto"))
        ),
        timeout=20,
    )
    run = batch_client.get_pool("auto").auto_scale_run
    assert run.error is None and "$TargetDedicatedNodes=0" in run.results
    assert all(t.execution_info.exit_code == 0 for t in batch_client.list_tasks("j"))


def test_the_control_evaluates_now(batch_client: BatchClient, emulator: Any) -> None:
    _autoscale_pool(batch_client, _PENDING, interval=_dt.timedelta(minutes=5))
    _add_sleepers(batch_client, 2, 30)
    # Real time: the next evaluation is 5 minutes away; the control runs it at once.
    run = _control(emulator).evaluate_autoscale("auto")
    assert "$TargetDedicatedNodes=2" in run["results"]
    assert batch_client.get_pool("auto").target_dedicated_nodes == 2
    with pytest.raises(BackendError) as info:
        _control(emulator).evaluate_autoscale("nope")
    assert info.value.code == "PoolNotFound"


def test_a_restarted_emulator_goes_on_evaluating(tmp_path: Path) -> None:
    data = tmp_path / "emulator"
    with EmulatorServer(data_dir=data, nodes_max=2) as first:
        client = BatchClient(
            endpoint=first.url, credential=AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY)
        )
        _autoscale_pool(client, _PENDING, interval=_dt.timedelta(minutes=5))
    with EmulatorServer(data_dir=data, nodes_max=2) as second:
        client = BatchClient(
            endpoint=second.url, credential=AzureNamedKeyCredential(DEV_ACCOUNT, DEV_KEY)
        )
        run = client.evaluate_pool_auto_scale(
            "auto",
            m.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes=1;"),
        )
        assert run.error is None
        _control(second).set_clock_speed(600)
        _add_sleepers(client, 1, 1)
        wait_for(
            "the restored pool grown to 1 node",
            lambda: client.get_pool("auto").current_dedicated_nodes == 1,
            timeout=20,
        )


def test_a_failed_first_evaluation_leaves_the_pool_empty_with_the_error(
    batch_client: BatchClient,
) -> None:
    # One sample exists at create: asking for 90% of five minutes of them fails the run,
    # which the service reports in autoScaleRun.error and leaves the targets alone.
    _autoscale_pool(
        batch_client,
        "$TargetDedicatedNodes = max($PendingTasks.GetSample(TimeInterval_Minute * 5, 90));",
    )
    pool = batch_client.get_pool("auto")
    assert pool.target_dedicated_nodes == 0 and pool.current_dedicated_nodes == 0
    error = pool.auto_scale_run.error
    assert error is not None and error.code == "InsufficientSampleData"
    assert error.error_values[0].value.startswith("Line 1, Col ")
