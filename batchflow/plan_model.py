"""The Plan: everything a run would create, upload and add, fully rendered.

A Plan is pure data, built by ``batchflow.plan.build_plan`` from a validated spec model and
consumed by the engine. Nothing here talks to a service. Field comments name the Batch REST
field each value ends up in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

UploadCondition = Literal["tasksuccess", "taskfailure", "taskcompletion"]


@dataclass(frozen=True)
class ImageRef:
    """virtualMachineConfiguration.imageReference + nodeAgentSKUId."""

    publisher: str
    offer: str
    sku: str
    version: str
    node_agent_sku: str


@dataclass(frozen=True)
class Upload:
    """One local file to stage into the input container (blob name = ``blob``)."""

    local_path: Path
    blob: str
    size: int
    md5: bytes  # raw 16-byte digest, compared with the blob's Content-MD5


@dataclass(frozen=True)
class InputFile:
    """resourceFiles[]: blob ``blob`` of the input container, placed at ``path`` in the wd.

    A workflow step's inputs come from the output container (``source``); with ``prefix``,
    ``blob`` is a blob-name prefix and every blob under it lands in the working directory
    with its whole name (storageContainerUrl + blobPrefix: a gather).
    """

    blob: str  # httpUrl's blob, or blobPrefix
    path: str  # filePath, relative to the task's working directory
    source: Literal["input", "output"] = "input"
    prefix: bool = False


@dataclass(frozen=True)
class StartTaskPlan:
    """pool.startTask."""

    command: str  # commandLine
    inputs: tuple[InputFile, ...] = ()  # resourceFiles
    environment: Mapping[str, str] = field(default_factory=dict)  # environmentSettings
    elevated: bool = False  # userIdentity.autoUser.elevationLevel admin/nonadmin
    wait_for_success: bool = True  # waitForSuccess
    max_retries: int = 0  # maxTaskRetryCount


@dataclass(frozen=True)
class PoolPlan:
    """POST /pools body."""

    id: str
    vm_size: str  # vmSize
    image: ImageRef
    dedicated: int  # targetDedicatedNodes
    spot: int  # targetLowPriorityNodes
    slots_per_node: int  # taskSlotsPerNode
    start_task: StartTaskPlan | None
    autoscale_formula: str | None = None  # autoScaleFormula (enableAutoScale when set)
    autoscale_interval_s: int | None = None  # autoScaleEvaluationInterval


@dataclass(frozen=True)
class OutputPlan:
    """task.outputFiles[]: ``pattern`` relative to the task's wd, uploaded under ``destination``.

    ``destination`` is a blob-name prefix in the output container ("" = container root);
    Batch keeps the matched file's relative path beneath it.
    """

    pattern: str  # filePattern
    destination: str  # destination.container.path
    condition: UploadCondition  # uploadOptions.uploadCondition
    optional: bool = False  # batchflow's own: may match no file (not sent to Batch)


@dataclass(frozen=True)
class TaskPlan:
    """POST /jobs/{job}/tasks body for one task."""

    id: str
    command: str  # commandLine (placeholders already substituted, shell-quoted)
    inputs: tuple[InputFile, ...] = ()  # resourceFiles
    environment: Mapping[str, str] = field(default_factory=dict)  # environmentSettings
    max_retries: int = 0  # constraints.maxTaskRetryCount
    timeout_s: int | None = None  # constraints.maxWallClockTime
    outputs: tuple[OutputPlan, ...] = ()  # outputFiles
    depends_on: tuple[str, ...] = ()  # dependsOn.taskIds


class TaskSource(Protocol):
    """The rendered tasks: sized and re-iterable, rendered lazily for large sweeps."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[TaskPlan]: ...


@dataclass(frozen=True)
class JobPlan:
    """POST /jobs body."""

    id: str
    pool_id: str  # poolInfo.poolId
    uses_dependencies: bool  # usesTaskDependencies
    timeout_s: int | None  # constraints.maxWallClockTime
    final_task: TaskPlan | None = None  # runs after all others (depends on every task)


@dataclass(frozen=True)
class StepPlan:
    """One step of a workflow, as ``plan`` shows it; its tasks are in ``Plan.tasks``."""

    name: str
    task_count: int
    source: str | None  # for_each: {outputs: source}
    gather: tuple[str, ...]  # inputs: {from: ...}
    needs: tuple[str, ...]
    download: bool  # its outputs ('<name>/...') are downloaded
    dynamic: bool = False  # its tasks are added while the run goes (task_count: 0)
    pattern: str | None = None  # inputs: {pattern}: the gathered files' names match it


KeepLogs = Literal["failed", "all", "none"]  # whose stdout/stderr a run record keeps


@dataclass(frozen=True)
class CleanupPlan:
    """What to delete after a successful run."""

    job: bool
    pool: bool
    inputs: bool
    always: bool = False  # also after a failed run


@dataclass(frozen=True)
class Plan:
    """Everything ``batchflow run`` would do for one spec."""

    name: str
    spec_path: Path
    input_container: str
    output_container: str
    uploads: Sequence[Upload]
    pool: PoolPlan
    job: JobPlan
    tasks: TaskSource
    download_dir: Path | None
    print_stdout: bool  # print each task's stdout at the end (the quickstart does)
    cleanup: CleanupPlan
    steps: tuple[StepPlan, ...] = ()  # a workflow's steps, in order (none for `tasks`)
    keep_logs: KeepLogs = "failed"

    @property
    def download_prefixes(self) -> tuple[str, ...] | None:
        """Blob-name prefixes of the outputs to download (None: every output)."""
        if not self.steps:
            return None
        return tuple(f"{s.name}/" for s in self.steps if s.download)

    @property
    def reads_outputs(self) -> bool:
        """Whether tasks take other tasks' outputs as inputs (they need to read them)."""
        final = self.job.final_task
        return any(s.source or s.gather for s in self.steps) or bool(final and final.inputs)
