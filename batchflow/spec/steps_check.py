"""Checks over a workflow's rendered tasks: each step's as ``check_tasks`` checks ``tasks``.

Ids cannot meet across steps (each starts with its step's name and a '-', and step names hold
no '-'), nor can outputs (each step's go under '<step>/'), so each step is checked on its own.
"""

from __future__ import annotations

from batchflow.spec.checks import check_tasks
from batchflow.spec.context import Context
from batchflow.spec.model import LocalFile, StepSpec, TaskSet, TaskTemplate, Workflow
from batchflow.spec.proofs import Proof, Values, file_values
from batchflow.spec.steps_expand import StepIndex, WorkflowTasks, workflow_tasks


def check_workflow(ctx: Context, workflow: Workflow, inputs: tuple[LocalFile, ...]) -> None:
    """Render every step's tasks once and check them (ids, command lengths, outputs); the
    same pass indexes each step for the steps after it, for ``plan`` and for ``run``."""
    tasks = workflow_tasks(workflow, inputs)
    for step in workflow.steps:
        own = TaskSet(step.tasks, inputs)
        index = StepIndex()
        pending = (item for item, _ in tasks.pending(step, files=False))
        known = (tasks.count(step), _files(tasks, step))

        def bulk(t: TaskTemplate, proof: Proof, step: StepSpec = step) -> bool:
            made = tasks.bulk_index(step, t, proof)
            if made is not None:
                tasks.indexed(step, made)
            return made is not None

        check_tasks(ctx, own, pending, index.add, known, bulk)
        tasks.indexed(step, index)


def _files(tasks: WorkflowTasks, step: StepSpec) -> dict[str, Values] | None:
    """What is known of the values of ``{input.*}`` in ``step``'s tasks (None: no proof)."""
    if step.dynamic:
        return None
    if step.source is not None:
        produced = tasks.index(tasks.workflow.step(step.source)).produced
        return file_values([b for blobs in produced for b in blobs], f"{step.source}/")
    if step.tasks.mode == "input":
        return file_values([f.blob for f in tasks.inputs])
    return None
