"""Stage 1: containers, uploads of what changed, and least-privilege SAS URLs."""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from batchflow.engine.events import Event, EventSink
from batchflow.engine.polling import retry_transient, say_if_slow
from batchflow.engine.protocols import BlobStore
from batchflow.errors import UsageError
from batchflow.plan_model import Plan, Upload
from batchflow.redact import remember_sas

DEFAULT_JOB_TIMEOUT_S = 24 * 3600  # SAS lifetime when the spec sets no job timeout
SAS_MARGIN_S = 3600  # collect and retries happen after the job's own deadline


@dataclass(frozen=True)
class StagedInputs:
    """What later stages need from this one, and what it did."""

    input_url: str  # read on the input container (one httpUrl per file: no list)
    output_url: str  # write+create on the output container
    expiry: _dt.datetime
    uploaded: int
    uploaded_bytes: int
    unchanged: int
    # read+list on the output container: only for workflows whose steps read other steps'
    # outputs ("" otherwise: nodes get no read access to results they do not need)
    outputs_read_url: str = ""


def sas_expiry(plan: Plan, now: _dt.datetime) -> _dt.datetime:
    """The SAS must outlive the job: its timeout (or a bounded default) plus a margin."""
    timeout = plan.job.timeout_s or DEFAULT_JOB_TIMEOUT_S
    return now + _dt.timedelta(seconds=timeout + SAS_MARGIN_S)


def check_sas_covers_job(plan: Plan, now: _dt.datetime, expiry: _dt.datetime) -> None:
    """Refuse to start work whose inputs would become unreadable before the job ends."""
    if plan.job.timeout_s and expiry < now + _dt.timedelta(seconds=plan.job.timeout_s):
        raise UsageError(
            f"the storage SAS would expire at {expiry:%Y-%m-%d %H:%M} UTC, "
            f"before the job's timeout of {plan.job.timeout_s}s"
        )


def changed_uploads(uploads: Sequence[Upload], remote: dict[str, bytes | None]) -> list[Upload]:
    """Uploads whose blob is missing or has a different Content-MD5."""
    return [u for u in uploads if remote.get(u.blob) != u.md5]


def stage_inputs(plan: Plan, blobs: BlobStore, sink: EventSink, workers: int = 16) -> StagedInputs:
    """Create both containers, upload the changed inputs in parallel, sign the URLs."""
    waiting = Event("inputs", f"waiting for storage at {blobs.describe()} (no answer yet)")
    with say_if_slow(sink, waiting):
        for container in (plan.input_container, plan.output_container):
            retry_transient(functools.partial(blobs.ensure_container, container))
        remote = retry_transient(lambda: blobs.list_md5(plan.input_container))
    todo = changed_uploads(plan.uploads, remote)
    unchanged = len(plan.uploads) - len(todo)
    sink(Event("inputs", f"{len(todo)} to upload, {unchanged} unchanged", 0, len(todo)))
    sent = 0
    if todo:
        with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            futures = [
                pool.submit(
                    retry_transient,
                    functools.partial(
                        blobs.upload, plan.input_container, u.blob, u.local_path, u.md5
                    ),
                )
                for u in todo
            ]
            for i, fut in enumerate(futures, 1):
                sent += fut.result()
                sink(Event("inputs", f"uploaded {i} of {len(todo)}", i, len(todo)))
    now = _dt.datetime.now(_dt.timezone.utc)
    expiry = sas_expiry(plan, now)
    check_sas_covers_job(plan, now, expiry)
    # Inputs go by one httpUrl each: read is enough, and no task can list the container.
    input_url = blobs.container_url(plan.input_container, "read", expiry)
    output_url = blobs.container_url(plan.output_container, "write", expiry)
    outputs_read_url = (
        # a gather stages a step's outputs by prefix (storageContainerUrl): read and list
        blobs.container_url(plan.output_container, "list", expiry) if plan.reads_outputs else ""
    )
    remember_sas(input_url)  # minted here: never shown, task output included
    remember_sas(output_url)
    remember_sas(outputs_read_url)
    return StagedInputs(
        input_url=input_url,
        output_url=output_url,
        expiry=expiry,
        uploaded=len(todo),
        uploaded_bytes=sent,
        unchanged=unchanged,
        outputs_read_url=outputs_read_url,
    )
