"""Request-body validation: known fields, types, required fields, enum values.

Each body is checked against a small schema written from the 15.1.0 models (REST names, see
shared/reference/models_rest_fields.txt). An unknown field is a 400 naming it; a field the real
service accepts but the emulator does not implement is a 400 saying so and what to do instead
(an empty list or null for such a field is accepted: older SDKs always send some of them).
Enum values are matched case-insensitively and rewritten to their canonical wire value, so the
state only ever sees ``terminatejob``, never ``terminateJob``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import isodate

from batchflow.emulator import errors

Json = dict[str, Any]
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The service's integers are Int32; anything wider is refused rather than stored and misread.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# A Batch account's dedicated/low-priority core quota is in the thousands; a pool asking for
# more nodes than this is a typo (10**23), not a plan.
MAX_NODES = 10_000


@dataclass(frozen=True)
class Enum:
    """A string field with a closed set of wire values."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Int:
    """An integer field with the range the real service enforces (both ends inclusive)."""

    lo: int = INT32_MIN
    hi: int = INT32_MAX


@dataclass(frozen=True)
class ListOf:
    """A JSON array whose items all follow ``item``."""

    item: Spec


@dataclass(frozen=True)
class Obj:
    """A JSON object: its fields, which of them are required, which are refused."""

    fields: Mapping[str, Spec]
    required: frozenset[str] = frozenset()
    unsupported: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)


# "str" | "id" | "int" | "bool" | "duration" | "any" (a JSON value stored as is, no effect).
Spec = Union[str, Enum, Int, ListOf, Obj]  # noqa: UP007 (a runtime alias; 3.10 has no "type")

_NODES = Int(0, MAX_NODES)
_RETRIES = Int(-1)  # -1: retry for ever
_PRIORITY = Int(-1000, 1000)
_SLOTS = Int(1, 256)


def _obj(
    required: str = "",
    unsupported: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
    **fields: Spec,
) -> Obj:
    return Obj(fields, frozenset(required.split()), unsupported or {}, aliases or {})


def _with(
    common: Mapping[str, Spec],
    required: str = "",
    unsupported: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
    **fields: Spec,
) -> Obj:
    """An object schema made of shared fields plus its own."""
    return _obj(required, unsupported, aliases, **{**common, **fields})


# --- hints for what the emulator refuses --------------------------------------------------
_CONTAINERS = "Tasks run as local processes: call the container runtime in the command line."
_PACKAGES = "Ship the files with resourceFiles instead."
_NETWORK = "Local nodes share the host's network; remove it for the local target."
_IDENTITY = "Managed identities do not exist locally: use a URL with a SAS token."
_UNSUPPORTED_POOL = {
    "networkConfiguration": _NETWORK,
    "applicationPackageReferences": _PACKAGES,
    "mountConfiguration": "Use resourceFiles and outputFiles to move data.",
    "certificateReferences": "Certificates are not emulated.",
    "applicationLicenses": "Licensed applications are not emulated.",
    "userAccounts": "Named user accounts are not emulated: use userIdentity.autoUser.",
    "cloudServiceConfiguration": "Use virtualMachineConfiguration.",
    "autoScaleFormula": "Autoscale is not emulated: set targetDedicatedNodes.",
    "autoScaleEvaluationInterval": "Autoscale is not emulated: set targetDedicatedNodes.",
    "identity": _IDENTITY,
    "resourceTags": "Resource tags are not emulated.",
    "targetNodeCommunicationMode": _NETWORK,
}
_UNSUPPORTED_TASK = {
    "containerSettings": _CONTAINERS,
    "multiInstanceSettings": "Multi-instance (MPI) tasks are not emulated.",
    "applicationPackageReferences": _PACKAGES,
    "authenticationTokenSettings": "Authentication tokens are retired by Azure Batch too.",
}

# --- shared parts ---------------------------------------------------------------------------
_ENV = ListOf(_obj("name", name="str", value="str"))
_METADATA = ListOf(_obj("name value", name="str", value="str"))
_RESOURCE_FILE = _obj(
    unsupported={
        "autoStorageContainerName": "The emulator has no auto-storage account: use "
        "storageContainerUrl or httpUrl with a SAS token.",
        "identityReference": _IDENTITY,
    },
    httpUrl="str",
    storageContainerUrl="str",
    blobPrefix="str",
    filePath="str",
    fileMode="str",
)
_USER_IDENTITY = _obj(
    unsupported={"username": "Named user accounts are not emulated: use autoUser."},
    autoUser=_obj(scope=Enum(("task", "pool")), elevationLevel=Enum(("nonadmin", "admin"))),
)
_OUTPUT_FILE = _obj(
    "filePattern destination uploadOptions",
    filePattern="str",
    destination=_obj(
        container=_obj(
            "containerUrl",
            unsupported={
                "identityReference": _IDENTITY,
                "uploadHeaders": "Upload headers are not emulated: blobs get the "
                "storage service's defaults.",
            },
            path="str",
            containerUrl="str",
        )
    ),
    uploadOptions=_obj(
        "uploadCondition", uploadCondition=Enum(("tasksuccess", "taskfailure", "taskcompletion"))
    ),
)
_TASK_CONSTRAINTS = _obj(
    maxWallClockTime="duration", retentionTime="duration", maxTaskRetryCount=_RETRIES
)
_EXIT_OPTIONS = _obj(
    jobAction=Enum(("none", "disable", "terminate")), dependencyAction=Enum(("satisfy", "block"))
)
_EXIT_CONDITIONS = _obj(
    exitCodes=ListOf(_obj("code exitOptions", code="int", exitOptions=_EXIT_OPTIONS)),
    exitCodeRanges=ListOf(
        _obj("start end exitOptions", start="int", end="int", exitOptions=_EXIT_OPTIONS)
    ),
    preProcessingError=_EXIT_OPTIONS,
    fileUploadError=_EXIT_OPTIONS,
    default=_EXIT_OPTIONS,
)
_START_TASK = _obj(
    "commandLine",
    unsupported={"containerSettings": _CONTAINERS},
    commandLine="str",
    resourceFiles=ListOf(_RESOURCE_FILE),
    environmentSettings=_ENV,
    userIdentity=_USER_IDENTITY,
    maxTaskRetryCount=_RETRIES,
    waitForSuccess="bool",
)
_VM_CONFIG = _obj(
    "imageReference nodeAgentSKUId",
    unsupported={
        "containerConfiguration": _CONTAINERS,
        "extensions": "VM extensions are not emulated.",
        "diskEncryptionConfiguration": "Disk encryption is not emulated.",
    },
    imageReference=_obj(
        publisher="str",
        offer="str",
        sku="str",
        version="str",
        virtualMachineImageId="str",
        sharedGalleryImageId="str",
        communityGalleryImageId="str",
    ),
    nodeAgentSKUId="str",
    windowsConfiguration="any",
    dataDisks="any",
    licenseType="str",
    nodePlacementConfiguration="any",
    osDisk="any",
    securityProfile="any",
    serviceArtifactReference="any",
)
_SCHEDULING = _obj(
    nodeFillType=Enum(("spread", "pack")), jobDefaultOrder=Enum(("none", "creationtime"))
)
_POOL_COMMON: dict[str, Spec] = {
    "displayName": "str",
    "vmSize": "str",
    "virtualMachineConfiguration": _VM_CONFIG,
    "enableInterNodeCommunication": "bool",
    "startTask": _START_TASK,
    "taskSlotsPerNode": _SLOTS,
    "taskSchedulingPolicy": _SCHEDULING,
    "metadata": _METADATA,
    "upgradePolicy": "any",
}
_JOB_CONSTRAINTS = _obj(maxWallClockTime="duration", maxTaskRetryCount=_RETRIES)
_POOL_INFO = _obj(
    "poolId",
    unsupported={
        "autoPoolSpecification": "Auto pools are not emulated: create the pool "
        "first and give its poolId."
    },
    poolId="str",
)
_JOB_UPDATABLE: dict[str, Spec] = {
    "priority": _PRIORITY,
    "allowTaskPreemption": "bool",
    "maxParallelTasks": Int(-1),
    "constraints": _JOB_CONSTRAINTS,
    "poolInfo": _POOL_INFO,
    "metadata": _METADATA,
    "onAllTasksComplete": Enum(("noaction", "terminatejob")),
}
_JOB_SUBTASK = _obj(
    "commandLine",
    unsupported={"containerSettings": _CONTAINERS},
    id="str",
    commandLine="str",
    resourceFiles=ListOf(_RESOURCE_FILE),
    environmentSettings=_ENV,
    constraints=_TASK_CONSTRAINTS,
    waitForSuccess="bool",
    userIdentity=_USER_IDENTITY,
    rerunOnNodeRebootAfterSuccess="bool",
)
_JOB_RELEASE = _obj(
    "commandLine",
    unsupported={"containerSettings": _CONTAINERS},
    id="str",
    commandLine="str",
    resourceFiles=ListOf(_RESOURCE_FILE),
    environmentSettings=_ENV,
    maxWallClockTime="duration",
    retentionTime="duration",
    userIdentity=_USER_IDENTITY,
)

# --- request bodies ------------------------------------------------------------------------
POOL_ADD = _with(
    _POOL_COMMON,
    "id vmSize",
    _UNSUPPORTED_POOL,
    {"maxTasksPerNode": "taskSlotsPerNode"},
    id="id",
    resizeTimeout="duration",
    targetDedicatedNodes=_NODES,
    targetLowPriorityNodes=_NODES,
    enableAutoScale="bool",
)
POOL_PATCH = _with(_POOL_COMMON, "", _UNSUPPORTED_POOL)
POOL_UPDATE_PROPERTIES = _obj(
    "metadata",
    unsupported=_UNSUPPORTED_POOL,
    startTask=_START_TASK,
    metadata=_METADATA,
)
POOL_RESIZE = _obj(
    targetDedicatedNodes=_NODES,
    targetLowPriorityNodes=_NODES,
    resizeTimeout="duration",
    nodeDeallocationOption=Enum(("requeue", "terminate", "taskcompletion", "retaineddata")),
)
JOB_ADD = _with(
    _JOB_UPDATABLE,
    "id poolInfo",
    unsupported={
        "networkConfiguration": _NETWORK,
        "jobManagerTask": "Job manager tasks are not emulated: add the tasks directly.",
    },
    id="id",
    displayName="str",
    usesTaskDependencies="bool",
    commonEnvironmentSettings=_ENV,
    jobPreparationTask=_JOB_SUBTASK,
    jobReleaseTask=_JOB_RELEASE,
    onTaskFailure=Enum(("noaction", "performexitoptionsjobaction")),
)
JOB_PATCH = _with(_JOB_UPDATABLE, "", {"networkConfiguration": _NETWORK})
JOB_UPDATE = _with(_JOB_UPDATABLE, "poolInfo", {"networkConfiguration": _NETWORK})
JOB_TERMINATE = _obj(terminateReason="str")
TASK_ADD = _obj(
    "id commandLine",
    unsupported=_UNSUPPORTED_TASK,
    id="id",
    displayName="str",
    commandLine="str",
    exitConditions=_EXIT_CONDITIONS,
    resourceFiles=ListOf(_RESOURCE_FILE),
    outputFiles=ListOf(_OUTPUT_FILE),
    environmentSettings=_ENV,
    affinityInfo=_obj("affinityId", affinityId="str"),
    constraints=_TASK_CONSTRAINTS,
    requiredSlots=_SLOTS,
    userIdentity=_USER_IDENTITY,
    dependsOn=_obj(
        taskIds=ListOf("str"), taskIdRanges=ListOf(_obj("start end", start="int", end="int"))
    ),
)
TASK_UPDATE = _obj(constraints=_TASK_CONSTRAINTS)
TASK_COLLECTION = _obj("value", value="any")
CONTROL_FAULTS = _obj(
    errorRate="any", status="int", dropRate="any", operations=ListOf("str"), seed="int"
)
CONTROL_LOSE_NODE = _obj("poolId", poolId="str", nodeId="str")


def validate(body: object, spec: Obj) -> Json:
    """The body, checked against ``spec``, enum values canonical. Raises a 400 naming the field."""
    if not isinstance(body, dict):
        raise errors.invalid_request_body("The request body must be a JSON object.")
    return _check_obj(body, spec, "")


def _check_obj(value: Json, spec: Obj, where: str) -> Json:
    out: Json = {}
    for name, item in value.items():
        path = f"{where}{name}"
        target = spec.aliases.get(name, name)
        if name in spec.unsupported:
            if item not in (None, [], {}, False):
                raise errors.unsupported_property(path, spec.unsupported[name])
            continue
        sub = spec.fields.get(target)
        if sub is None:
            raise errors.unknown_property(path)
        if item is not None:
            out[target] = _check(item, sub, path)
    for name in spec.required:
        if out.get(name) is None:
            raise errors.missing_required_property(f"{where}{name}")
    if spec is POOL_ADD and out.get("enableAutoScale"):
        raise errors.unsupported_property(
            f"{where}enableAutoScale", _UNSUPPORTED_POOL["autoScaleFormula"]
        )
    return out


def _check(value: Any, spec: Spec, path: str) -> Any:
    if isinstance(spec, Obj):
        if not isinstance(value, dict):
            raise errors.invalid_property_value(path, value, "Expected a JSON object.")
        return _check_obj(value, spec, f"{path}.")
    if isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise errors.invalid_property_value(path, value, "Expected a JSON array.")
        return [_check(v, spec.item, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(spec, Enum):
        return _check_enum(value, spec, path)
    if isinstance(spec, Int):
        return _check_int(value, spec, path)
    return _check_scalar(value, spec, path)


def _check_int(value: Any, spec: Int, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise errors.invalid_property_value(path, value, "Expected an integer.")
    if not spec.lo <= value <= spec.hi:
        raise errors.invalid_property_value(
            path, value, f"Must be an integer from {spec.lo} to {spec.hi}."
        )
    return value


def _check_duration(value: str, path: str) -> str:
    try:
        isodate.parse_duration(value)
    except (isodate.ISO8601Error, ValueError):
        raise errors.invalid_property_value(
            path, value, "Expected an ISO 8601 duration such as PT30M."
        ) from None
    except OverflowError:
        # More days than a timedelta holds (the SDKs' "unlimited", timedelta.max, still fits).
        raise errors.invalid_property_value(
            path, value, "The duration is out of range (at most P999999999D)."
        ) from None
    return value


def _check_enum(value: Any, spec: Enum, path: str) -> str:
    if isinstance(value, str):
        for allowed in spec.values:
            if allowed.lower() == value.lower():
                return allowed
    raise errors.invalid_property_value(path, value, f"Expected one of {', '.join(spec.values)}.")


def _check_scalar(value: Any, kind: str, path: str) -> Any:
    if kind == "any":
        return value
    if isinstance(value, str) and "\x00" in value and kind in ("str", "id", "duration"):
        # A NUL cannot reach a command line, an environment or a file name: refuse it here
        # rather than fail the task later with a server error.
        raise errors.invalid_property_value(path, value, "The value contains a NUL character.")
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "id" and isinstance(value, str):
        if not _ID.match(value):
            raise errors.invalid_property_value(
                path, value, "Ids have 1 to 64 letters, digits, hyphens or underscores."
            )
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int":
        return _check_int(value, Int(), path)
    if kind == "duration" and isinstance(value, str):
        return _check_duration(value, path)
    expected = {
        "str": "a string",
        "id": "a string",
        "bool": "true or false",
        "int": "an integer",
        "duration": "an ISO 8601 duration string",
    }[kind]
    raise errors.invalid_property_value(path, value, f"Expected {expected}.")


def validate_task_collection(body: object) -> list[object]:
    """The raw task bodies of an addtaskcollection request (each checked later, on its own,
    so one bad task becomes one ``clienterror`` result, not a failed request)."""
    checked = validate(body, TASK_COLLECTION)
    tasks = checked["value"]
    if not isinstance(tasks, list):
        raise errors.invalid_property_value("value", tasks, "Expected a JSON array of tasks.")
    return tasks
