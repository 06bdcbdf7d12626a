"""Both BlobStores against real storage: Azurite through azure-storage-blob, and the local
directory store; and the staging stage on top of them (uploads only what changed)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchflow.azure.blob import AzureBlobStore
from batchflow.engine.events import Event
from batchflow.engine.inputs import stage_inputs
from batchflow.engine.protocols import BlobStore
from batchflow.errors import BackendError
from batchflow.local.blobs import RECORD_MIN_BYTES, LocalBlobStore
from batchflow.plan_model import TaskPlan
from tests.engine.planning import make_plan, upload_of

HOSTILE = ["a b;rm -rf ~.txt", "$(touch pwned).txt", "sub/dir/ünï.txt"]


@pytest.fixture(params=["local", "azurite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
    else:
        yield AzureBlobStore.from_connection_string(request.getfixturevalue("azurite"))


def _unique(prefix: str, tmp_path: Path) -> str:
    """A valid container-name stem unique to the test (Azurite is shared by the session)."""
    return f"{prefix}{abs(hash(str(tmp_path))) % 10**8}"


def _files(root: Path, names: list[str]) -> list[Path]:
    paths = []
    for i, name in enumerate(names):
        p = root / "in" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"content {i} of {name}\n")
        paths.append(p)
    return paths


def test_roundtrip_with_hostile_names(store: BlobStore, tmp_path: Path) -> None:
    container = _unique("rt", tmp_path)
    store.ensure_container(container)
    store.ensure_container(container)  # idempotent
    for path, name in zip(_files(tmp_path, HOSTILE), HOSTILE, strict=True):
        up = upload_of(path, name)
        assert store.upload(container, name, path, up.md5) == up.size
    listed = store.list_md5(container)
    assert sorted(listed) == sorted(HOSTILE)
    for name in HOSTILE:
        dest = tmp_path / "dl" / name
        store.download(container, name, dest)
        assert dest.read_text() == (tmp_path / "in" / name).read_text()
        assert listed[name] == upload_of(dest, name).md5
    assert not (tmp_path / "pwned").exists()
    store.delete_container(container)
    assert store.list_md5(container) == {}
    store.delete_container(container)  # absent: no error


def test_delete_blobs_takes_only_what_is_under_the_prefix(store: BlobStore, tmp_path: Path) -> None:
    container = _unique("del", tmp_path)
    names = ["split/split-1/a", "split/split-1/sub/b", "split/split-10/a", "split/split-2/a"]
    store.ensure_container(container)
    for path, name in zip(_files(tmp_path, names), names, strict=True):
        store.upload(container, name, path, upload_of(path, name).md5)
    assert store.delete_blobs(container, "split/split-1/") == 2
    assert sorted(store.list_md5(container)) == ["split/split-10/a", "split/split-2/a"]
    assert store.delete_blobs(container, "split/split-1/") == 0  # nothing left: no error
    store.delete_container(container)
    assert store.delete_blobs(container, "split/") == 0  # no container: no error


def test_delete_blob_takes_that_one_name_only(store: BlobStore, tmp_path: Path) -> None:
    container = _unique("del1", tmp_path)
    names = ["count/a.count", "count/a.count.old", "count/b.count"]
    store.ensure_container(container)
    for path, name in zip(_files(tmp_path, names), names, strict=True):
        store.upload(container, name, path, upload_of(path, name).md5)
    store.delete_blob(container, "count/a.count")
    assert sorted(store.list_md5(container)) == ["count/a.count.old", "count/b.count"]
    store.delete_blob(container, "count/a.count")  # gone already: no error
    store.delete_container(container)
    store.delete_blob(container, "count/b.count")  # no container: no error


def test_staging_uploads_only_changes(store: BlobStore, tmp_path: Path) -> None:
    names = [f"f{i}.txt" for i in range(20)]
    paths = _files(tmp_path, names)
    ups = [upload_of(p, n) for p, n in zip(paths, names, strict=True)]
    plan = make_plan(tmp_path, uploads=ups, name=_unique("s", tmp_path))
    events: list[Event] = []
    first = stage_inputs(plan, store, events.append)
    assert (first.uploaded, first.unchanged) == (20, 0)
    assert first.uploaded_bytes == sum(u.size for u in ups)
    again = stage_inputs(plan, store, events.append)
    assert (again.uploaded, again.uploaded_bytes, again.unchanged) == (0, 0, 20)
    paths[3].write_text("changed\n")
    ups[3] = upload_of(paths[3], names[3])
    plan = make_plan(tmp_path, uploads=ups, name=plan.name)
    third = stage_inputs(plan, store, events.append)
    assert (third.uploaded, third.unchanged) == (1, 19)
    assert any(e.stage == "inputs" for e in events)


def test_azurite_sas_is_least_privilege(azurite: str, tmp_path: Path) -> None:
    store = AzureBlobStore.from_connection_string(azurite)
    store.ensure_container("sas-check")
    path = _files(tmp_path, ["x.txt"])[0]
    store.upload("sas-check", "x.txt", path, upload_of(path, "x.txt").md5)
    expiry = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(hours=1)
    read_url = store.container_url("sas-check", "read", expiry)
    write_url = store.container_url("sas-check", "write", expiry)
    list_url = store.container_url("sas-check", "list", expiry)
    assert "sp=r&" in read_url and "sp=cw&" in write_url and "sp=rl&" in list_url
    base, _, query = read_url.partition("?")
    with urllib.request.urlopen(f"{base}/x.txt?{query}") as resp:
        assert resp.read() == path.read_bytes()
    base, _, query = write_url.partition("?")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/x.txt?{query}")
    assert err.value.code == 403  # write-only: cannot read back


def test_local_store_refuses_escaping_names(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    src = _files(tmp_path, ["ok.txt"])[0]
    for bad in ("../evil.txt", "/abs.txt", "a/../../b"):
        with pytest.raises(BackendError):
            store.upload("c", bad, src, b"")
    assert not (tmp_path / "evil.txt").exists()


def test_local_store_hashes_a_blob_again_only_when_it_changed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(RECORD_MIN_BYTES))
    up = upload_of(src, "big.bin")
    store.upload("c", "big.bin", src, up.md5)
    blob = tmp_path / "blobs" / "c" / "big.bin"
    st = blob.stat()
    # Same size and mtime: the record is trusted, the file is not read.
    blob.write_bytes(b"X" * st.st_size)
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.list_md5("c") == {"big.bin": up.md5}
    # A new mtime: hashed again.
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert store.list_md5("c") == {"big.bin": hashlib.md5(b"X" * st.st_size).digest()}


def test_local_store_keeps_no_records_of_small_blobs(tmp_path: Path) -> None:
    """A small blob is hashed whenever listed: no record file for each of a workflow's many
    small outputs, and a changed one is never taken for its old content."""
    store = LocalBlobStore(tmp_path / "blobs")
    src = _files(tmp_path, ["in.txt"])[0]
    store.upload("c", "in.txt", src, upload_of(src, "in.txt").md5)
    out = tmp_path / "blobs" / "c" / "step" / "out.txt"  # as a task's upload leaves it
    out.parent.mkdir(parents=True)
    out.write_text("made by a task\n")
    assert store.list_md5("c") == {
        "in.txt": upload_of(src, "in.txt").md5,
        "step/out.txt": hashlib.md5(b"made by a task\n").digest(),
    }
    assert not (tmp_path / "blobs" / ".md5").exists()
    st = out.stat()
    out.write_text("made again....\n")  # same size, same mtime
    os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert store.list_md5("c")["step/out.txt"] == hashlib.md5(b"made again....\n").digest()


def test_local_store_names_both_blobs_of_a_file_folder_clash(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.ensure_container("c")
    src = tmp_path / "src.txt"
    src.write_text("x")
    md5 = hashlib.md5(b"x").digest()
    store.upload("c", "o.txt", src, md5)
    with pytest.raises(BackendError) as err:
        store.upload("c", "o.txt/y", src, md5)
    assert "'o.txt/y'" in str(err.value) and "'o.txt'" in str(err.value)
    store.upload("c", "d/y", src, md5)
    with pytest.raises(BackendError) as err:
        store.upload("c", "d", src, md5)
    assert "'d'" in str(err.value) and "'d/...'" in str(err.value)


def test_clashing_outputs_of_two_tasks_name_both_blobs(tmp_path: Path, emulator: Any) -> None:
    from batchflow.azure.connect import batch_service
    from batchflow.engine.run import run_plan
    from tests.engine.planning import shell_task

    batch = batch_service(emulator.url, emulator.account, emulator.key, fast=True)
    tasks = [
        shell_task("a", "echo a > o.txt", outputs=["o.txt"]),
        shell_task("b", "sleep 0.5; mkdir o.txt; echo b > o.txt/y", outputs=["o.txt/y"]),
    ]
    res = run_plan(
        make_plan(tmp_path, tasks), batch, LocalBlobStore(tmp_path / "b"), lambda e: None
    )
    batch.close()
    (failed,) = res.collected.failed if res.collected else ()
    assert failed.task_id == "b"
    assert "'o.txt/y'" in failed.message and "'o.txt'" in failed.message, failed.message


def test_every_sas_staging_mints_is_masked_in_task_output(azurite: str, tmp_path: Path) -> None:
    """The read SAS of the output container (for tasks reading other tasks' outputs) is a
    secret batchflow minted like the other two: `logs` and print_stdout, which show a task's
    output byte for byte but for such secrets, must mask it too (it was never registered)."""
    import dataclasses

    from batchflow.plan_model import InputFile
    from batchflow.redact import redact_task_output

    store = AzureBlobStore.from_connection_string(azurite)
    gather = TaskPlan("final", "cat a/*", inputs=(InputFile("a/", "", "output", True),))
    plan = make_plan(tmp_path, name=_unique("m", tmp_path))
    plan = dataclasses.replace(plan, job=dataclasses.replace(plan.job, final_task=gather))
    staged = stage_inputs(plan, store, lambda e: None)
    urls = (staged.input_url, staged.output_url, staged.outputs_read_url)
    assert all("sig=" in u for u in urls)
    for url in urls:
        signature = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["sig"][0]
        shown = redact_task_output(f"the task printed {url} and {signature}")
        assert signature not in shown and urllib.parse.quote(signature, safe="") not in shown


def test_the_input_sas_reads_each_file_and_cannot_list_the_container(
    azurite: str, tmp_path: Path
) -> None:
    """Inputs reach tasks as one httpUrl per file: reading is all their SAS needs. With
    list on top (as before), every task could enumerate every input of the container."""
    store = AzureBlobStore.from_connection_string(azurite)
    path = _files(tmp_path, ["x.txt"])[0]
    plan = make_plan(tmp_path, uploads=[upload_of(path, "x.txt")], name=_unique("r", tmp_path))
    staged = stage_inputs(plan, store, lambda e: None)
    base, _, query = staged.input_url.partition("?")
    with urllib.request.urlopen(f"{base}/x.txt?{query}") as resp:
        assert resp.read() == path.read_bytes()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}?restype=container&comp=list&{query}")
    assert err.value.code == 403
