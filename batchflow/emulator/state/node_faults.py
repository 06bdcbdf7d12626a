"""Faults the control surface set for nodes that have not booted yet, and preemption rates:
what ``state/node_events.py`` acts on. Apart so that ``core.py`` can hold one without
importing the operations (which import the core)."""

from __future__ import annotations

from dataclasses import dataclass, field

from batchflow.emulator.kinds import Json

ANY_POOL = "*"


@dataclass
class NodeFaults:
    """Faults waiting for nodes that have not booted yet (mutated under ``Core.lock``), per
    lower-case pool id or ``ANY_POOL``."""

    start_task_exits: dict[str, list[int]] = field(default_factory=dict)
    unusable_at_boot: dict[str, int] = field(default_factory=dict)
    # Pools whose spot nodes are preempted at a rate: seconds between two preemptions.
    preempt_every: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> Json:
        return {
            "startTaskExitCodes": {k: list(v) for k, v in self.start_task_exits.items()},
            "unusableAtBoot": dict(self.unusable_at_boot),
        }
