"""Request-body validation: known fields, types, required fields, enum values.

Each body is checked against a small schema written from the 15.1.0 models (REST names, see
shared/reference/models_rest_fields.txt). An unknown field is a 400 naming it; a field the real
service accepts but the emulator does not implement is a 400 saying so and what to do instead
(an empty list or null for such a field is accepted: older SDKs always send some of them).
``OneOf`` values are matched case-insensitively and rewritten to their canonical wire value, so
the state only ever sees ``terminatejob``, never ``terminateJob``.
"""

from __future__ import annotations

from collections.abc import Mapping

from batchflow.emulator import errors
from batchflow.emulator.http.body_check import (
    MAX_NODES,
    Int,
    ListOf,
    Obj,
    OneOf,
    Spec,
    Str,
    check_object,
)
from batchflow.emulator.kinds import Json

__all__ = ["MAX_NODES", "Int", "ListOf", "Obj", "OneOf", "validate", "validate_task_collection"]


_NODES = Int(0, MAX_NODES)
_RETRIES = Int(-1)  # -1: retry for ever
_PRIORITY = Int(-1000, 1000)
_SLOTS = Int(1, 256)
_DISPLAY_NAME = Str(1024)
# Batch refuses 0 (it would never run a task): -1 (unlimited) or at least 1.
_MAX_PARALLEL = Int(1, special=-1)


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
    autoUser=_obj(scope=OneOf(("task", "pool")), elevationLevel=OneOf(("nonadmin", "admin"))),
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
        "uploadCondition", uploadCondition=OneOf(("tasksuccess", "taskfailure", "taskcompletion"))
    ),
)
_TASK_CONSTRAINTS = _obj(
    maxWallClockTime="duration", retentionTime="duration", maxTaskRetryCount=_RETRIES
)
_EXIT_OPTIONS = _obj(
    jobAction=OneOf(("none", "disable", "terminate")), dependencyAction=OneOf(("satisfy", "block"))
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
    # Recorded, shown by the node extension API as provisioned; none runs locally.
    extensions=ListOf(
        _obj(
            "name publisher type",
            unsupported={
                "protectedSettings": "The emulator keeps no secret settings: use settings."
            },
            name="str",
            publisher="str",
            type="str",
            typeHandlerVersion="str",
            autoUpgradeMinorVersion="bool",
            enableAutomaticUpgrade="bool",
            settings="any",
            provisionAfterExtensions=ListOf("str"),
        )
    ),
    windowsConfiguration="any",
    dataDisks="any",
    licenseType="str",
    nodePlacementConfiguration="any",
    osDisk="any",
    securityProfile="any",
    serviceArtifactReference="any",
)
_SCHEDULING = _obj(
    nodeFillType=OneOf(("spread", "pack")), jobDefaultOrder=OneOf(("none", "creationtime"))
)
_POOL_COMMON: dict[str, Spec] = {
    "displayName": _DISPLAY_NAME,
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
_POOL_SPEC = _with(
    _POOL_COMMON,
    "vmSize",
    _UNSUPPORTED_POOL,
    {"maxTasksPerNode": "taskSlotsPerNode"},
    displayName=_DISPLAY_NAME,
    resizeTimeout="duration",
    targetDedicatedNodes=_NODES,
    targetLowPriorityNodes=_NODES,
    enableAutoScale="bool",
    autoScaleFormula="str",
    autoScaleEvaluationInterval="duration",
)
_AUTO_POOL = _obj(
    "poolLifetimeOption",
    autoPoolIdPrefix=Str(20),
    poolLifetimeOption=OneOf(("jobschedule", "job")),
    keepAlive="bool",
    pool=_POOL_SPEC,
)
# poolId or autoPoolSpecification: which one must be given is checked with the job.
_POOL_INFO = _obj(poolId="str", autoPoolSpecification=_AUTO_POOL)
_JOB_UPDATABLE: dict[str, Spec] = {
    "priority": _PRIORITY,
    "allowTaskPreemption": "bool",
    "maxParallelTasks": _MAX_PARALLEL,
    "constraints": _JOB_CONSTRAINTS,
    "poolInfo": _POOL_INFO,
    "metadata": _METADATA,
    "onAllTasksComplete": OneOf(("noaction", "terminatejob")),
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
    autoScaleFormula="str",
    autoScaleEvaluationInterval="duration",
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
    nodeDeallocationOption=OneOf(("requeue", "terminate", "taskcompletion", "retaineddata")),
)
POOL_ENABLE_AUTOSCALE = _obj(autoScaleFormula="str", autoScaleEvaluationInterval="duration")
POOL_EVALUATE_AUTOSCALE = _obj("autoScaleFormula", autoScaleFormula="str")
JOB_ADD = _with(
    _JOB_UPDATABLE,
    "id poolInfo",
    unsupported={
        "networkConfiguration": _NETWORK,
        "jobManagerTask": "Job manager tasks are not emulated: add the tasks directly.",
    },
    id="id",
    displayName=_DISPLAY_NAME,
    usesTaskDependencies="bool",
    commonEnvironmentSettings=_ENV,
    jobPreparationTask=_JOB_SUBTASK,
    jobReleaseTask=_JOB_RELEASE,
    onTaskFailure=OneOf(("noaction", "performexitoptionsjobaction")),
)
# --- job schedules, job disable (i10-sched) ---------------------------------------------------
_JOB_SPECIFICATION = _with(
    _JOB_UPDATABLE,
    "poolInfo",
    unsupported={
        "networkConfiguration": _NETWORK,
        "jobManagerTask": "Job manager tasks are not emulated: add the tasks directly.",
    },
    displayName=_DISPLAY_NAME,
    usesTaskDependencies="bool",
    commonEnvironmentSettings=_ENV,
    jobPreparationTask=_JOB_SUBTASK,
    jobReleaseTask=_JOB_RELEASE,
    onTaskFailure=OneOf(("noaction", "performexitoptionsjobaction")),
)
_SCHEDULE = _obj(
    doNotRunUntil="str",
    doNotRunAfter="str",
    startWindow="duration",
    recurrenceInterval="duration",
)
JOB_SCHEDULE_ADD = _obj(
    "id schedule jobSpecification",
    id="id",
    displayName=_DISPLAY_NAME,
    schedule=_SCHEDULE,
    jobSpecification=_JOB_SPECIFICATION,
    metadata=_METADATA,
)
JOB_SCHEDULE_PATCH = _obj(
    schedule=_SCHEDULE, jobSpecification=_JOB_SPECIFICATION, metadata=_METADATA
)
# The 15.x SDK's replace sends a whole BatchJobSchedule: its read-only fields are ignored.
_SCHEDULE_READ_ONLY: dict[str, Spec] = dict.fromkeys(
    [
        "id",
        "displayName",
        "url",
        "eTag",
        "lastModified",
        "creationTime",
        "state",
        "stateTransitionTime",
        "previousState",
        "previousStateTransitionTime",
        "executionInfo",
        "stats",
    ],
    "any",
)
JOB_SCHEDULE_UPDATE = _with(
    _SCHEDULE_READ_ONLY,
    "schedule jobSpecification",
    schedule=_SCHEDULE,
    jobSpecification=_JOB_SPECIFICATION,
    metadata=_METADATA,
)
JOB_DISABLE = _obj("disableTasks", disableTasks=OneOf(("requeue", "terminate", "wait")))
CONTROL_SCHEDULE = _obj("jobScheduleId", jobScheduleId="str")
# --- end of job schedules ---------------------------------------------------------------------
JOB_PATCH = _with(_JOB_UPDATABLE, "", {"networkConfiguration": _NETWORK})
JOB_UPDATE = _with(_JOB_UPDATABLE, "poolInfo", {"networkConfiguration": _NETWORK})
JOB_TERMINATE = _obj(terminateReason="str")
TASK_ADD = _obj(
    "id commandLine",
    unsupported=_UNSUPPORTED_TASK,
    id="id",
    displayName=_DISPLAY_NAME,
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
CONTROL_CLOCK = _obj("speed", speed="any")
CONTROL_AUTOSCALE = _obj("poolId", poolId="str")
CONTROL_QUOTAS = _obj(
    profile=OneOf(("default", "new-account")),
    dedicatedCoresPerFamily=ListOf(_obj("family cores", family="str", cores=Int(0))),
    dedicatedCores=Int(0),
    lowPriorityCores=Int(0),
)
CONTROL_ALLOCATION = _obj(failure=OneOf(("AllocationFailed", "AllocationTimedout", "none")))


def validate(body: object, spec: Obj) -> Json:
    """The body, checked against ``spec``, enum values canonical. Raises a 400 naming the field."""
    if not isinstance(body, dict):
        raise errors.invalid_request_body("The request body must be a JSON object.")
    return check_object(body, spec)


def validate_task_collection(body: object) -> list[object]:
    """The raw task bodies of an addtaskcollection request (each checked later, on its own,
    so one bad task becomes one ``clienterror`` result, not a failed request)."""
    checked = validate(body, TASK_COLLECTION)
    tasks = checked["value"]
    if not isinstance(tasks, list):
        raise errors.invalid_property_value("value", tasks, "Expected a JSON array of tasks.")
    return tasks


# --- the node operations (http/node_routes.py) ---------------------------------------------
_DEALLOCATION = OneOf(("requeue", "terminate", "taskcompletion", "retaineddata"))
POOL_REMOVE_NODES = _obj(
    "nodeList",
    nodeList=ListOf("str"),
    resizeTimeout="duration",
    nodeDeallocationOption=_DEALLOCATION,
)
NODE_REBOOT = _obj(nodeRebootOption=_DEALLOCATION)
NODE_REIMAGE = _obj(nodeReimageOption=_DEALLOCATION)
NODE_DEALLOCATE = _obj(nodeDeallocateOption=_DEALLOCATION)
NODE_DISABLE_SCHEDULING = _obj(
    nodeDisableSchedulingOption=OneOf(("requeue", "terminate", "taskcompletion"))
)
NODE_USER_ADD = _obj(
    "name",
    name=Str(256),
    isAdmin="bool",
    expiryTime="str",
    # "any": checked by the state, whose error never repeats the value (it is a secret).
    password="any",  # noqa: S106 - a field's type, not a password
    sshPublicKey="str",
)
NODE_USER_UPDATE = _obj(password="any", expiryTime="str", sshPublicKey="str")  # noqa: S106
NODE_UPLOAD_LOGS = _obj(
    "containerUrl startTime",
    unsupported={"identityReference": _IDENTITY},
    containerUrl="str",
    startTime="str",
    endTime="str",
)
