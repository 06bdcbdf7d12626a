"""Checks over a workflow's rendered tasks: each step's as ``check_tasks`` checks ``tasks``.

Ids cannot meet across steps (each starts with its step's name and a '-', and step names hold
no '-'), nor can outputs (each step's go under '<step>/'), so each step is checked on its own.
"""

from __future__ import annotations

from batchflow.spec.checks import check_tasks
from batchflow.spec.context import Context
from batchflow.spec.model import LocalFile, TaskSet, Workflow
from batchflow.spec.steps_expand import StepIndex, workflow_tasks


def check_workflow(ctx: Context, workflow: Workflow, inputs: tuple[LocalFile, ...]) -> None:
    """Render every step's tasks once and check them (ids, command lengths, outputs); the
    same pass indexes each step for the steps after it, for ``plan`` and for ``run``."""
    tasks = workflow_tasks(workflow, inputs)
    for step in workflow.steps:
        own = TaskSet(step.tasks, inputs)
        index = StepIndex()
        pending = (item for item, _ in tasks.pending(step, files=False))
        check_tasks(ctx, own, pending, index.add)
        tasks.indexed(step, index)
