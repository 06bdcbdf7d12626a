"""Plan -> Batch REST request bodies (pure functions, camelCase exactly as on the wire)."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from batchflow.engine.protocols import Json
from batchflow.plan_model import InputFile, JobPlan, OutputPlan, PoolPlan, StartTaskPlan, TaskPlan

_WILDCARDS = frozenset("*?[")


def duration(seconds: int) -> str:
    """ISO 8601 duration, as the service and both SDK generations parse it."""
    return f"PT{int(seconds)}S"


def blob_url(container_url: str, blob: str) -> str:
    """The URL of ``blob`` inside a container URL that may carry a SAS query."""
    base, sep, query = container_url.partition("?")
    return f"{base.rstrip('/')}/{quote(blob, safe='/')}{sep}{query}"


def resource_files(
    inputs: Sequence[InputFile], input_url: str, outputs_read_url: str = ""
) -> list[Json]:
    """resourceFiles: one blob URL per input, placed at its path in the working directory;
    a workflow step's inputs come from the output container (``outputs_read_url``), a
    gather's as every blob under a prefix."""
    files: list[Json] = []
    for f in inputs:
        url = input_url if f.source == "input" else outputs_read_url
        if f.prefix:  # no prefix: the whole container (blobPrefix is optional, never "")
            files.append({"storageContainerUrl": url, **({"blobPrefix": f.blob} if f.blob else {})})
        else:
            files.append({"httpUrl": blob_url(url, f.blob), "filePath": f.path})
    return files


def environment(env: Mapping[str, str]) -> list[Json]:
    """environmentSettings."""
    return [{"name": k, "value": v} for k, v in env.items()]


def output_blob_path(out: OutputPlan) -> str:
    """destination.container.path: for a plain file the blob name itself (Batch semantics),
    for a wildcard pattern a prefix under which matched files keep their relative path."""
    if _WILDCARDS & set(out.pattern):
        return out.destination
    name = out.pattern
    while name.startswith("../"):  # ../stdout.txt: the file, not a path above the container
        name = name[3:]
    return posixpath.join(out.destination, name) if out.destination else name


def output_files(outputs: Sequence[OutputPlan], output_url: str) -> list[Json]:
    """outputFiles: each pattern uploaded to the output container when its condition holds."""
    result = []
    for out in outputs:
        container: Json = {"containerUrl": output_url}
        path = output_blob_path(out)
        if path:
            container["path"] = path
        result.append(
            {
                "filePattern": out.pattern,
                "destination": {"container": container},
                "uploadOptions": {"uploadCondition": out.condition},
            }
        )
    return result


def task_body(task: TaskPlan, input_url: str, output_url: str, outputs_read_url: str = "") -> Json:
    """POST /jobs/{job}/tasks body (``outputs_read_url``: read+list on the output
    container, for tasks whose inputs are other tasks' outputs)."""
    body: Json = {"id": task.id, "commandLine": task.command}
    if task.inputs:
        body["resourceFiles"] = resource_files(task.inputs, input_url, outputs_read_url)
    if task.environment:
        body["environmentSettings"] = environment(task.environment)
    constraints: Json = {"maxTaskRetryCount": task.max_retries}
    if task.timeout_s:
        constraints["maxWallClockTime"] = duration(task.timeout_s)
    body["constraints"] = constraints
    if task.outputs:
        body["outputFiles"] = output_files(task.outputs, output_url)
    if task.depends_on:
        body["dependsOn"] = {"taskIds": list(task.depends_on)}
    return body


def start_task_body(start: StartTaskPlan, input_url: str) -> Json:
    """pool.startTask."""
    body: Json = {
        "commandLine": start.command,
        "waitForSuccess": start.wait_for_success,
        "maxTaskRetryCount": start.max_retries,
        "userIdentity": {
            "autoUser": {
                "scope": "pool",
                "elevationLevel": "admin" if start.elevated else "nonadmin",
            }
        },
    }
    if start.inputs:
        body["resourceFiles"] = resource_files(start.inputs, input_url)
    if start.environment:
        body["environmentSettings"] = environment(start.environment)
    return body


def pool_body(pool: PoolPlan, input_url: str) -> Json:
    """POST /pools body."""
    img = pool.image
    body: Json = {
        "id": pool.id,
        "vmSize": pool.vm_size,
        "virtualMachineConfiguration": {
            "imageReference": {
                "publisher": img.publisher,
                "offer": img.offer,
                "sku": img.sku,
                "version": img.version,
            },
            "nodeAgentSKUId": img.node_agent_sku,
        },
        "taskSlotsPerNode": pool.slots_per_node,
    }
    if pool.autoscale_formula:
        body["enableAutoScale"] = True
        body["autoScaleFormula"] = pool.autoscale_formula
        if pool.autoscale_interval_s:
            body["autoScaleEvaluationInterval"] = duration(pool.autoscale_interval_s)
    else:
        body["targetDedicatedNodes"] = pool.dedicated
        body["targetLowPriorityNodes"] = pool.spot
    if pool.start_task is not None:
        body["startTask"] = start_task_body(pool.start_task, input_url)
    return body


def job_body(job: JobPlan) -> Json:
    """POST /jobs body. onAllTasksComplete stays noaction: a later run may add tasks."""
    body: Json = {"id": job.id, "poolInfo": {"poolId": job.pool_id}}
    if job.uses_dependencies or job.final_task is not None:
        body["usesTaskDependencies"] = True
    if job.timeout_s:
        body["constraints"] = {"maxWallClockTime": duration(job.timeout_s)}
    return body
