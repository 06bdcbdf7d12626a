"""Auto pools: the pool a job (or a job schedule) asks for with
``poolInfo.autoPoolSpecification`` instead of naming one.

The pool is created from the specification's ``pool`` with an id the service's way
(``{autoPoolIdPrefix}_{unique}``) when the job is created (``poolLifetimeOption: job``) or
with the schedule's first job (``jobschedule``; the schedule's later jobs share it). The job
shows it as ``executionInfo.poolId`` (``poolInfo`` stays as given, as on the service). It is
deleted when its job completes or is deleted, or when its schedule completes or is deleted,
unless ``keepAlive`` is true.
"""

from __future__ import annotations

import logging
import uuid

from batchflow.emulator import errors, shapes
from batchflow.emulator.kinds import Json
from batchflow.emulator.state import pools, quotas, rows
from batchflow.emulator.state.core import Core

log = logging.getLogger("batchflow.emulator")
# Where a schedule keeps the id of its auto pool: a private key, never sent on the wire.
SCHEDULE_POOL_KEY = "_autoPoolId"


def check_pool_info(pool_info: Json | None) -> None:
    """poolId or autoPoolSpecification, exactly one (400 otherwise)."""
    info = pool_info or {}
    has_id, has_auto = bool(info.get("poolId")), bool(info.get("autoPoolSpecification"))
    if not has_id and not has_auto:
        raise errors.missing_required_property("poolInfo.poolId")
    if has_id and has_auto:
        raise errors.invalid_property_value(
            "poolInfo", "poolId, autoPoolSpecification", "Specify one of them, not both."
        )
    if has_auto:
        pool = info["autoPoolSpecification"].get("pool") or {}
        if not pool.get("vmSize"):
            raise errors.missing_required_property("poolInfo.autoPoolSpecification.pool")
        quotas.vm_size(str(pool["vmSize"]))  # refused now, not when the job is made


def updated_pool_info(current: Json | None, given: Json) -> Json:
    """A job's poolInfo after an update: a pool id replaces it; of an auto pool only
    ``keepAlive`` changes (as on the service), the job staying on the pool it has."""
    if given.get("poolId"):
        return dict(given)
    old = (current or {}).get("autoPoolSpecification")
    if old is None:
        raise errors.invalid_property_value(
            "poolInfo.autoPoolSpecification",
            "(an auto pool)",
            "A job on a named pool cannot move to an auto pool: give a poolId.",
        )
    keep = bool(given["autoPoolSpecification"].get("keepAlive"))
    return {"autoPoolSpecification": {**old, "keepAlive": keep}}


def _spec(doc: Json) -> Json | None:
    return (doc.get("poolInfo") or {}).get("autoPoolSpecification")


def _create(core: Core, spec: Json) -> str:
    """Create the auto pool of ``spec``; its id."""
    prefix = spec.get("autoPoolIdPrefix")
    unique = str(uuid.uuid4()).upper()
    pool_id = f"{prefix}_{unique}" if prefix else unique
    pools.create_pool(core, {**(spec.get("pool") or {}), "id": pool_id})
    return pool_id


def pool_for_new_job(core: Core, doc: Json) -> tuple[str, bool]:
    """The pool a new job runs on, and whether it was created for it (so that a job refused
    after all takes its pool with it)."""
    check_pool_info(doc.get("poolInfo"))
    spec = _spec(doc)
    if spec is None:
        return str(doc["poolInfo"]["poolId"]), False
    if shapes.any_of(spec.get("poolLifetimeOption"), "jobschedule"):
        raise errors.invalid_property_value(
            "poolInfo.autoPoolSpecification.poolLifetimeOption",
            spec.get("poolLifetimeOption"),
            "'jobschedule' is for the jobs of a job schedule; use 'job'.",
        )
    return _create(core, spec), True


def for_schedule_job(core: Core, schedule: Json) -> tuple[Json, str | None]:
    """The body of a schedule's next job, and the pool the schedule made for its jobs
    (``jobschedule`` lifetime, created with its first job); None: the job decides."""
    body = dict(schedule["jobSpecification"])
    spec = _spec(body)
    if spec is None or not shapes.any_of(spec.get("poolLifetimeOption"), "jobschedule"):
        return body, None
    pool_id = schedule.get(SCHEDULE_POOL_KEY)
    if pool_id is None or rows.pool_doc(core.store, pool_id) is None:
        pool_id = _create(core, spec)
        rows.update_schedule(
            core.store, schedule["id"], lambda d: d.update({SCHEDULE_POOL_KEY: pool_id})
        )
    return body, str(pool_id)


def _delete(core: Core, pool_id: str | None) -> None:
    if not pool_id:
        return
    try:
        pools.delete_pool(core, pool_id)
    except errors.BatchServiceError as exc:  # deleted by the user already
        log.debug("auto pool %s: %s", pool_id, exc)


def job_ended(core: Core, job: Json) -> None:
    """A job completed or was deleted: its own auto pool goes, unless kept alive."""
    spec = _spec(job)
    if spec is None or spec.get("keepAlive"):
        return
    if shapes.any_of(spec.get("poolLifetimeOption"), "job"):
        _delete(core, (job.get("executionInfo") or {}).get("poolId"))


def schedule_ended(core: Core, schedule: Json) -> None:
    """A schedule completed or was deleted: the pool it made for its jobs goes, unless kept."""
    spec = _spec(schedule.get("jobSpecification") or {})
    if spec is None or spec.get("keepAlive"):
        return
    _delete(core, schedule.get(SCHEDULE_POOL_KEY))
