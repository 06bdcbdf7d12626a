"""The validated spec as frozen dataclasses: what the loader hands on, instead of dicts.

Templates are compiled and already bound to the spec's params and environment values, so
only per-task placeholders (``input.*``, ``item.*``, ``index``, ``task.id``) remain in them.
``where`` fields keep the path of the spec node a value came from, to locate later problems.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from batchflow.plan_model import CleanupPlan, ImageRef, KeepLogs, UploadCondition
from batchflow.spec.loader import Where
from batchflow.spec.templates import Template

Scalar = str | int | float | bool
TaskMode = Literal["input", "matrix", "list", "outputs"]


@dataclass(frozen=True)
class LocalFile:
    """A local file to stage: its path on disk and its blob name (relative to the spec's dir)."""

    local: Path
    blob: str


@dataclass(frozen=True)
class OutputSpec:
    """An output rule; ``pattern`` values are glob-escaped, ``destination`` raw."""

    pattern: Template
    destination: Template
    when: UploadCondition
    where: Where
    optional: bool = False  # may match no file without failing the run


@dataclass(frozen=True)
class TaskTemplate:
    """How to render one task (or, for ``for_each``/``matrix``, every task)."""

    id: Template
    command: Template
    environment: tuple[tuple[str, Template], ...]
    retries: int
    timeout_s: int | None
    outputs: tuple[OutputSpec, ...]
    depends_on: tuple[str, ...]
    where: Where


@dataclass(frozen=True)
class TasksSpec:
    """The task set: ``template`` per input or matrix item, or the explicit ``items``."""

    mode: TaskMode
    template: TaskTemplate | None
    matrix: tuple[tuple[str, tuple[str, ...]], ...]
    items: tuple[TaskTemplate, ...]
    final: TaskTemplate | None
    print_stdout: bool


@dataclass(frozen=True)
class StepSpec:
    """One step of a workflow: its tasks (``mode`` "outputs": one per output file of
    ``source``), the steps it gathers from (``gather``, optionally only files matching
    ``pattern``) and the steps it waits for without data (``needs``)."""

    name: str
    tasks: TasksSpec
    source: str | None
    gather: tuple[str, ...]
    pattern: str | None
    needs: tuple[str, ...]
    download: bool
    where: Where
    # Its outputs have wildcards: which files a task produced is known once it ran.
    wild: bool = False
    # Its tasks are known only while the run goes (the engine adds them): it makes one task
    # per file of a ``wild`` step, or follows a step that does.
    dynamic: bool = False

    @property
    def upstream(self) -> tuple[str, ...]:
        """Every step this one waits for, data or not."""
        return (*((self.source,) if self.source else ()), *self.gather, *self.needs)


@dataclass(frozen=True)
class Workflow:
    """The ``steps`` section: steps in an order where each comes after all it waits for."""

    steps: tuple[StepSpec, ...]

    def step(self, name: str) -> StepSpec:
        """The step called ``name``."""
        return next(s for s in self.steps if s.name == name)


class TaskSet:
    """The tasks of a spec whose other sections have problems: checked all the same.

    (A plain class: each dataclass costs `validate` start-up time.)
    """

    __slots__ = ("inputs", "tasks", "workflow")

    def __init__(
        self, tasks: TasksSpec, inputs: tuple[LocalFile, ...], workflow: Workflow | None = None
    ) -> None:
        self.tasks = tasks
        self.inputs = inputs
        self.workflow = workflow


@dataclass(frozen=True)
class StartTaskSpec:
    """pool.start_task, rendered (it may only use params and env)."""

    command: str
    files: tuple[LocalFile, ...]
    environment: tuple[tuple[str, str], ...]
    elevated: bool
    wait_for_success: bool
    retries: int


@dataclass(frozen=True)
class PoolSpec:
    """The pool."""

    id: str
    vm_size: str
    image: ImageRef
    dedicated: int
    spot: int
    slots_per_node: int
    start_task: StartTaskSpec | None
    autoscale_formula: str | None
    autoscale_interval_s: int | None


@dataclass(frozen=True)
class Spec:
    """A whole validated spec."""

    path: Path
    name: str
    params: tuple[tuple[str, Scalar], ...]
    pool: PoolSpec
    job_id: str
    job_timeout_s: int | None
    input_container: str
    output_container: str
    inputs: tuple[LocalFile, ...]
    tasks: TasksSpec
    download: Path | None
    cleanup: CleanupPlan
    # Environment variables whose values come from {env.NAME}: shown redacted by `plan`.
    secret_env: frozenset[str] = frozenset()
    # The `steps` section; None for a spec with `tasks` (then `tasks` is the whole work).
    workflow: Workflow | None = None
    keep_logs: KeepLogs = "failed"  # whose stdout/stderr the run record keeps

    @property
    def base_dir(self) -> Path:
        """The directory input globs and ``download`` are relative to."""
        return self.path.parent


# What rendering and checking tasks needs: a whole Spec, or only its tasks and inputs.
TaskSource = Spec | TaskSet
