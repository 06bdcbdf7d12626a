"""The engine's pure parts: REST bodies, redaction, download-path safety, account config."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchflow.azure.config import read_account
from batchflow.engine.bodies import blob_url, output_blob_path, pool_body, task_body
from batchflow.engine.collect import safe_destination
from batchflow.engine.inputs import DEFAULT_JOB_TIMEOUT_S, sas_expiry
from batchflow.engine.polling import PollPolicy
from batchflow.engine.protocols import TaskCounts
from batchflow.engine.watch import awaited
from batchflow.errors import ConfigError
from batchflow.plan_model import InputFile, OutputPlan, StartTaskPlan, TaskPlan
from batchflow.redact import redact
from tests.engine.planning import make_plan

SAS = "https://acct.blob.core.windows.net/in?sv=2024&sp=rl&sig=abc%2Bdef%3D"


def test_blob_url_quotes_hostile_names_and_keeps_the_sas() -> None:
    url = blob_url(SAS, "$(touch pwned).txt")
    assert url.startswith("https://acct.blob.core.windows.net/in/%24%28touch%20pwned%29.txt?")
    assert url.endswith("&sig=abc%2Bdef%3D")
    assert (
        blob_url("file:///tmp/x/in", "a b;rm -rf ~.txt")
        == "file:///tmp/x/in/a%20b%3Brm%20-rf%20~.txt"
    )


def test_task_body_is_rest_shaped() -> None:
    task = TaskPlan(
        id="t1",
        command="cat 'a b.txt'",
        inputs=(InputFile("a b.txt", "a b.txt"),),
        environment={"K": "v"},
        max_retries=2,
        timeout_s=600,
        outputs=(
            OutputPlan("x.mp3", "", "tasksuccess"),
            OutputPlan("logs/*.txt", "run1", "taskcompletion"),
        ),
    )
    body = task_body(task, SAS, "https://acct/out?sp=cw&sig=s")
    assert body["resourceFiles"] == [{"httpUrl": blob_url(SAS, "a b.txt"), "filePath": "a b.txt"}]
    assert body["constraints"] == {"maxTaskRetryCount": 2, "maxWallClockTime": "PT600S"}
    plain, wild = body["outputFiles"]
    assert plain["destination"]["container"]["path"] == "x.mp3"
    assert wild["destination"]["container"]["path"] == "run1"
    assert wild["uploadOptions"] == {"uploadCondition": "taskcompletion"}
    assert body["environmentSettings"] == [{"name": "K", "value": "v"}]


def test_output_path_semantics() -> None:
    assert output_blob_path(OutputPlan("a.txt", "", "tasksuccess")) == "a.txt"
    assert output_blob_path(OutputPlan("a.txt", "d", "tasksuccess")) == "d/a.txt"
    assert output_blob_path(OutputPlan("../stdout.txt", "t1", "taskcompletion")) == "t1/stdout.txt"
    assert output_blob_path(OutputPlan("*.mp3", "", "tasksuccess")) == ""


def test_pool_body_start_task(tmp_path: Path) -> None:
    start = StartTaskPlan(command="/bin/sh -c true", elevated=True)
    plan = make_plan(tmp_path, start_task=start, nodes=3, slots=2)
    body = pool_body(plan.pool, SAS)
    assert body["targetDedicatedNodes"] == 3 and body["taskSlotsPerNode"] == 2
    assert body["startTask"]["userIdentity"]["autoUser"]["elevationLevel"] == "admin"
    assert body["startTask"]["waitForSuccess"] is True


@pytest.mark.parametrize(
    "text",
    [
        f"GET {SAS} failed",
        "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=c2VjcmV0;BlobEndpoint=x",
        "Authorization: SharedKey acct:c2lnbmF0dXJl",
    ],
)
def test_redact_hides_secrets(text: str) -> None:
    cleaned = redact(text)
    assert "REDACTED" in cleaned
    for secret in ("abc%2Bdef%3D", "c2VjcmV0", "c2lnbmF0dXJl"):
        assert secret not in cleaned


def test_safe_destination(tmp_path: Path) -> None:
    root = tmp_path / "out"
    assert safe_destination(root, "a/b.mp3") == (root / "a" / "b.mp3").resolve()
    for bad in ("../x", "/etc/passwd", "a/../../x", "", "."):
        assert safe_destination(root, bad) is None
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    assert safe_destination(root, "link/escape.txt") is None


def test_sas_covers_the_job(tmp_path: Path) -> None:
    now = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
    assert sas_expiry(make_plan(tmp_path, timeout_s=7200), now) > now + _dt.timedelta(hours=2)
    bounded = sas_expiry(make_plan(tmp_path, timeout_s=None), now)
    assert (
        now + _dt.timedelta(seconds=DEFAULT_JOB_TIMEOUT_S) < bounded < now + _dt.timedelta(days=2)
    )


def test_poll_policy_backs_off_and_resets() -> None:
    p = PollPolicy(initial=0.1, maximum=1.0, factor=2)
    assert p.next(0.1, changed=False) == 0.2
    assert p.next(0.8, changed=False) == 1.0
    assert p.next(1.0, changed=True) == 0.1


def test_account_config_names_the_missing_variable() -> None:
    with pytest.raises(ConfigError, match="AZURE_BATCH_ENDPOINT"):
        read_account({})
    with pytest.raises(ConfigError, match="AZURE_STORAGE_CONNECTION_STRING"):
        read_account({"AZURE_BATCH_ENDPOINT": "https://acct.westeurope.batch.azure.com"})
    acct = read_account(
        {
            "AZURE_BATCH_ENDPOINT": "acct.westeurope.batch.azure.com",
            "AZURE_BATCH_ACCESS_KEY": "k2V5",
            "AZURE_STORAGE_ACCOUNT": "st",
        }
    )
    assert acct.batch_account == "acct" and acct.batch_endpoint.startswith("https://")
    assert "k2V5" not in repr(acct)


def test_user_delegation_sas_is_bounded_to_seven_days() -> None:
    from batchflow.azure.blob import _check_delegation_lifetime

    start = _dt.datetime(2026, 1, 1, tzinfo=_dt.timezone.utc)
    _check_delegation_lifetime(start, start + _dt.timedelta(days=6))
    with pytest.raises(ConfigError, match="AZURE_STORAGE_KEY"):
        _check_delegation_lifetime(start, start + _dt.timedelta(days=8))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"ab./\\~ -$;", "..", "/.."]), max_size=12).map("".join))
def test_safe_destination_never_leaves_the_root(name: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "out"
        dest = safe_destination(root, name)
        if dest is not None:
            assert dest.is_relative_to(root.resolve()) and dest != root.resolve()


@given(st.text(max_size=200))
def test_redact_leaves_no_signature(noise: str) -> None:
    text = f"{noise} https://a.blob.core.windows.net/c/b?sv=1&sig=S3cr3t%2Bsig&se=2 {noise}"
    assert "S3cr3t" not in redact(text)


_SECRET = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    min_size=8,
    max_size=40,
).map(lambda s: "Zq" + s)
_NOISE = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)


@settings(max_examples=200, deadline=None)
@given(
    _NOISE,
    _SECRET,
    st.sampled_from(
        [
            "AZURE_BATCH_ACCESS_KEY={}",
            "export AZURE_STORAGE_KEY='{}'",
            "MY_API_KEY = {}",
            'AZURE_STORAGE_CONNECTION_STRING="AccountName=a;AccountKey={}"',
            '{{"accountKey": "{}"}}',
            '{{"key":"{}", "name": "x"}}',
            '{{"sharedAccessSignature": "{}"}}',
            "https%3A%2F%2Fa.blob%2Fc%3Fsv%3D1%26sig%3D{}%26se%3D2",
            "https://a.blob.core.windows.net/c?sv=1&sig={}&se=2",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey={};EndpointSuffix=x",
        ]
    ),
)
def test_redact_hides_secrets_in_every_shape(noise: str, secret: str, shape: str) -> None:
    text = f"{noise}\n{shape.format(secret)}\n{noise}"
    assert secret not in redact(text)


class _Grow:
    def __init__(self, finished: bool) -> None:
        self.finished, self.count = finished, 0

    def poll(self, counts: TaskCounts) -> int:
        return 0


def test_the_watch_waits_for_the_last_task_only_when_nothing_before_it_matters() -> None:
    going = TaskCounts(active=6, running=4, completed=90, succeeded=90, failed=0)
    assert awaited(going, 100, None) == 10  # only the run's end: the 10 tasks left
    assert awaited(going, 100, _Grow(finished=True)) == 10
    assert awaited(going, 100, _Grow(finished=False)) == 1  # each may add tasks
    failing = TaskCounts(active=6, running=4, completed=90, succeeded=89, failed=1)
    assert awaited(failing, 100, None) == 1  # are the rest blocked by it? each poll looks
    assert awaited(TaskCounts(0, 0, 100, 100, 0), 100, None) == 1
