"""Resource files in and output files out: file:// (local extension) and real Azurite SAS URLs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.storage.blob import (
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_container_sas,
)

from tests.conftest import AZURITE_ACCOUNT, AZURITE_KEY
from tests.emulator.core_helpers import (
    add,
    completed,
    failure,
    info,
    make_job,
    make_pool,
    stdout,
)


@pytest.fixture()
def job(batch_client: BatchClient) -> str:
    make_pool(batch_client, "pool", nodes=1, slots=2)
    make_job(batch_client, "job", "pool")
    return "job"


def _container(azurite: str, name: str) -> tuple[ContainerClient, str]:
    service = BlobServiceClient.from_connection_string(azurite)
    container = service.create_container(name)
    sas = generate_container_sas(
        AZURITE_ACCOUNT,
        name,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, write=True, list=True, create=True),
        expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1),
    )
    return container, f"{container.url}?{sas}"


def _out(
    pattern: str, url: str, path: str | None = None, when: str = "taskcompletion"
) -> m.OutputFile:
    return m.OutputFile(
        file_pattern=pattern,
        destination=m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(container_url=url, path=path)
        ),
        upload_options=m.OutputFileUploadConfiguration(upload_condition=when),
    )


def test_file_url_resources_and_outputs(
    batch_client: BatchClient,
    job: str,
    tmp_path: Path,
) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.txt").write_text("B")
    (tmp_path / "run.sh").write_text("#!/bin/sh\necho script\n")
    out = tmp_path / "out"
    out.mkdir()
    add(
        batch_client,
        job,
        "t",
        "/bin/sh -c './run.sh; cat data/a.txt data/sub/b.txt > r.out; "
        "mkdir -p deep; echo d > deep/x.out'",
        resource_files=[
            m.ResourceFile(
                http_url=(tmp_path / "run.sh").as_uri(), file_path="run.sh", file_mode="755"
            ),
            m.ResourceFile(storage_container_url=src.as_uri(), file_path="data"),
        ],
        output_files=[
            _out("**/*.out", out.as_uri(), "results"),
            _out("r.out", out.as_uri(), "single/renamed.txt", "tasksuccess"),
            _out("../stdout.txt", out.as_uri(), "logs", "taskfailure"),
        ],
    )
    task = completed(batch_client, job, "t")
    assert info(task).result == "success", info(task).failure_info
    assert stdout(batch_client, job, "t") == "script\n"
    assert (out / "results" / "r.out").read_text() == "AB"
    assert (out / "results" / "deep" / "x.out").read_text() == "d\n"
    assert (out / "single" / "renamed.txt").read_text() == "AB"
    assert not (out / "logs").exists()
    assert "Uploaded" in stdout(batch_client, job, "t", "fileuploadout.txt")


def test_resource_path_escaping_fails_the_task(
    batch_client: BatchClient,
    job: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "f").write_text("x")
    add(
        batch_client,
        job,
        "escape",
        "/bin/true",
        resource_files=[m.ResourceFile(http_url=(tmp_path / "f").as_uri(), file_path="../../evil")],
    )
    add(
        batch_client,
        job,
        "missing",
        "/bin/true",
        resource_files=[m.ResourceFile(http_url=(tmp_path / "nope").as_uri(), file_path="nope")],
    )
    escape = completed(batch_client, job, "escape")
    assert info(escape).result == "failure"
    assert failure(escape).category == "usererror"
    assert failure(escape).code == "ResourceFileCreateFailed"
    assert info(escape).exit_code is None
    assert failure(completed(batch_client, job, "missing")).code == ("BlobNotFound")


def test_outputs_leaving_their_directories_fail_the_task(
    batch_client: BatchClient,
    job: str,
    tmp_path: Path,
) -> None:
    """A matched file that is a link out of the task directory, and a destination path out of
    the container, are refused: nothing lands outside."""
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    out = tmp_path / "out"
    out.mkdir()
    add(
        batch_client,
        job,
        "link",
        f"/bin/ln -s {secret} leak.out",
        output_files=[_out("*.out", out.as_uri(), "got")],
    )
    add(
        batch_client,
        job,
        "climb",
        "/bin/sh -c 'echo x > r.out'",
        output_files=[_out("r.out", out.as_uri(), "../climbed.out")],
    )
    for task_id in ("link", "climb"):
        task = completed(batch_client, job, task_id)
        assert info(task).result == "failure"
        assert failure(task).code == "FileUploadMiscError"
    assert not (out / "got").exists()
    assert not (tmp_path / "climbed.out").exists()


def test_output_to_missing_container_fails_the_task(
    batch_client: BatchClient,
    job: str,
    tmp_path: Path,
) -> None:
    add(
        batch_client,
        job,
        "t",
        "/bin/sh -c 'echo x > o.txt'",
        output_files=[_out("o.txt", (tmp_path / "absent").as_uri())],
    )
    task = completed(batch_client, job, "t")
    assert info(task).exit_code == 0
    assert info(task).result == "failure"
    assert failure(task).code == "FileUploadContainerNotFound"


def test_azurite_sas_in_and_out(batch_client: BatchClient, job: str, azurite: str) -> None:
    inputs, in_url = _container(azurite, "inputs")
    inputs.upload_blob("media/one.txt", b"1")
    inputs.upload_blob("media/two.txt", b"2")
    inputs.upload_blob("other/skip.txt", b"x")
    blob_url = f"{inputs.url}/media/one.txt?{in_url.split('?', 1)[1]}"
    outputs, out_url = _container(azurite, "outputs")
    add(
        batch_client,
        job,
        "t",
        "/bin/sh -c 'ls -R media > listing.txt; cat single.txt'",
        resource_files=[
            m.ResourceFile(storage_container_url=in_url, blob_prefix="media/"),
            m.ResourceFile(http_url=blob_url, file_path="single.txt"),
        ],
        output_files=[
            _out("listing.txt", out_url, "run/listing.txt"),
            _out("../std*.txt", out_url, "logs"),
        ],
    )
    task = completed(batch_client, job, "t")
    assert info(task).result == "success", info(task).failure_info
    assert stdout(batch_client, job, "t") == "1"
    listing = outputs.download_blob("run/listing.txt").readall().decode()
    assert "one.txt" in listing and "two.txt" in listing and "skip" not in listing
    names = {b.name for b in outputs.list_blobs()}
    assert {"run/listing.txt", "logs/stdout.txt", "logs/stderr.txt"} <= names
    assert "sig=" not in stdout(batch_client, job, "t", "fileuploadout.txt")
