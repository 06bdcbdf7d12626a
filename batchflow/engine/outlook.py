"""What a run would do with each task (``batchflow plan``), judged from this machine's
records alone: the output container is not looked at, so a task whose outputs are gone runs
again too.

A workflow's dynamic tasks are made as a run would make them (``engine.expand``, dry): of
the files an up-to-date task recorded, and judged like the others. What only a run can tell
(the files a task that runs will make) is said per step: "more tasks appear as X runs".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn, cast

from batchflow.engine.cache import Cache, Keys, Record, local_records, task_keys
from batchflow.engine.expand import Expander
from batchflow.engine.fingerprint import input_md5s
from batchflow.engine.protocols import BatchService, BlobStore, TaskCounts
from batchflow.plan_model import Plan


@dataclass(frozen=True)
class Outlook:
    """What a run would do with each task it can know of now."""

    up_to_date: tuple[str, ...]
    changed: tuple[str, ...]  # its own definition or input files changed
    upstream_changed: tuple[str, ...]  # the same itself, but a task it depends on changed
    new: tuple[str, ...]  # never succeeded here
    # (dynamic step, the step whose run makes more of its tasks known)
    pending: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The counts, for ``plan --json``."""
        return {
            "up_to_date": len(self.up_to_date),
            "changed": len(self.changed),
            "upstream_changed": len(self.upstream_changed),
            "new": len(self.new),
            **({"dynamic_pending": dict(self.pending)} if self.pending else {}),
        }


def outlook(plan: Plan) -> Outlook | None:
    """What a run would do, or None when no run recorded anything here."""
    records = local_records(plan)
    if not records:
        return None
    keys = task_keys(plan)
    pending = _dynamic(plan, keys, records) if any(s.dynamic for s in plan.steps) else ()
    sorts: dict[str, list[str]] = {"up": [], "changed": [], "upstream": [], "new": []}
    for low in keys:  # the dynamic tasks made above are keyed too, after the static ones
        rec = records.get(low)
        if rec is None:
            kind = "new"
        elif rec.key == keys.keys[low]:
            kind = "up"
        else:
            kind = "changed" if rec.fingerprint != keys.fingerprints[low] else "upstream"
        sorts[kind].append(keys.ids[low])
    return Outlook(
        tuple(sorts["up"]),
        tuple(sorts["changed"]),
        tuple(sorts["upstream"]),
        tuple(sorts["new"]),
        pending,
    )


class _Offline:
    """The services of a dry expansion: it asks none (a call would be a bug, said loudly)."""

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"a dry expansion called {name}")


def _dynamic(plan: Plan, keys: Keys, records: dict[str, Record]) -> tuple[tuple[str, str], ...]:
    """Key in ``keys`` every dynamic task the records let be made; the steps with more to
    come, each with the step whose run decides it."""
    # Every recorded output counted as still there: the container is not looked at.
    listing = {blob: None for rec in records.values() for blob in rec.outputs}
    cache = Cache(keys, records, md5s=input_md5s(plan), listing=listing)
    for low in keys:  # upstream first, as ``decide``
        if cache.current(low):
            cache.up_to_date[low] = keys.ids[low]
    offline = _Offline()
    trial = Expander(
        plan,
        cast(BatchService, offline),
        cast(BlobStore, offline),
        lambda t: {},
        lambda e: None,
        cache,
        dry=True,
    )
    nothing = TaskCounts(0, 0, 0, 0, 0)
    while trial.poll(nothing):
        pass  # each round makes what the tasks of the last one allow

    def runs(name: str) -> bool:
        """Whether the step ``name`` still has tasks to run before all it makes is known."""
        if name not in trial.settled:
            return True
        step = trial.workflow.step(name)
        return step.wild and any(t.id.lower() not in cache.up_to_date for t in trial.tasks_of(name))

    pending = []
    for step in trial.dynamic:
        if step.name not in trial.settled:
            waits = next((u for u in step.upstream if runs(u)), step.upstream[0])
            pending.append((step.name, waits))
    return tuple(pending)
