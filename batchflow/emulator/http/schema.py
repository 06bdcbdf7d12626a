"""Request bodies validated as the Batch service validates them, by ``jsonschema`` validators
compiled once from the 2025-06-01 API's own definitions (``data/batch_definitions.json``, MIT,
Azure/azure-rest-api-specs) with the emulator's rules overlaid here:

- every object refuses a property its definition does not declare (a 400 naming it), takes
  ``null`` for "not given" (older SDKs send nulls) and ignores read-only properties;
- enum values match in any case and are rewritten to their wire value, so the state only ever
  sees ``terminatejob``, never ``terminateJob``;
- the ranges the service enforces (Int32 unless narrower), ids, ISO 8601 durations, display
  names of at most 1,024 characters, no NUL in any string;
- fields the service accepts but a local process cannot honour (a container, a multi-instance
  task) are refused with what to do instead (``REFUSED``); every other field is accepted and
  stored as sent;
- fields of older api-versions (``LEGACY``) are accepted, so msrest-era SDKs keep working.

Validators mutate the body in place while they check it (nulls dropped, enums canonical,
aliases renamed): a body is validated once, by one walk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import isodate
from jsonschema import Draft4Validator, ValidationError, validators
from jsonschema.protocols import Validator

from batchflow.emulator import errors
from batchflow.emulator.errors import BatchServiceError
from batchflow.emulator.http.body_check import ID, INT32_MAX, INT32_MIN, INT_TEXT, MAX_NODES
from batchflow.emulator.kinds import Json

MAX_DISPLAY_NAME = 1024

# Ranges the service documents, by property name (the same name means the same thing in every
# definition that has it): (lowest, highest, one more value that still means something).
_RANGES: dict[str, tuple[int, int, int | None]] = {
    "targetDedicatedNodes": (0, MAX_NODES, None),
    "targetLowPriorityNodes": (0, MAX_NODES, None),
    "maxTaskRetryCount": (-1, INT32_MAX, None),  # -1: retry for ever
    "priority": (-1000, 1000, None),
    "taskSlotsPerNode": (1, 256, None),
    "maxTasksPerNode": (1, 256, None),
    "requiredSlots": (1, 256, None),
    # Batch refuses 0 (it would never run a task): -1 (unlimited) or at least 1.
    "maxParallelTasks": (1, INT32_MAX, -1),
    "numberOfInstances": (1, INT32_MAX, None),
}
_IDS = {
    ("BatchPoolCreateOptions", "id"),
    ("BatchJobCreateOptions", "id"),
    ("BatchTaskCreateOptions", "id"),
    ("BatchJobScheduleCreateOptions", "id"),
}
# Secrets the API definition types as objects, not as ``format: password`` strings: never
# repeated in an error either.
_SECRET_OBJECTS = frozenset({"protectedSettings"})

# --- what a local process cannot honour -----------------------------------------------------
_CONTAINERS = (
    "Tasks run as local processes and this machine has no container runtime: call the "
    "container runtime in the command line."
)
_PACKAGES = "Application packages do not exist locally: ship the files with resourceFiles."
_IDENTITY = "Managed identities do not exist locally: use a URL with a SAS token."


def _present(value: object) -> bool:
    return value not in (None, [], {}, False)


def _many_instances(value: object) -> bool:
    count = value.get("numberOfInstances", 1) if isinstance(value, dict) else 1
    return isinstance(count, int) and count > 1


@dataclass(frozen=True)
class Refusal:
    """Why a field is refused locally, and when (by default: whenever it holds something)."""

    hint: str
    applies: Callable[[object], bool] = _present


_CONTAINER = {"containerSettings": Refusal(_CONTAINERS)}
_NO_PACKAGES = {"applicationPackageReferences": Refusal(_PACKAGES)}
_JOB_MANAGER = {
    "jobManagerTask": Refusal("Job manager tasks are not emulated: add the tasks directly.")
}
REFUSED: dict[str, dict[str, Refusal]] = {
    "BatchTaskCreateOptions": {
        **_CONTAINER,
        **_NO_PACKAGES,
        "multiInstanceSettings": Refusal(
            "Multi-instance (MPI) tasks need several nodes working as one: locally a task "
            "runs one process (numberOfInstances 1 is accepted).",
            _many_instances,
        ),
        "authenticationTokenSettings": Refusal(
            "Authentication tokens are retired by Azure Batch too."
        ),
    },
    "BatchStartTask": _CONTAINER,
    "BatchStartTaskUpdate": _CONTAINER,
    "BatchJobManagerTask": _CONTAINER,
    "BatchJobPreparationTask": _CONTAINER,
    "BatchJobReleaseTask": _CONTAINER,
    "BatchJobCreateOptions": _JOB_MANAGER,
    "BatchJobSpecification": _JOB_MANAGER,
    "BatchPoolCreateOptions": {
        **_NO_PACKAGES,
        "cloudServiceConfiguration": Refusal("Use virtualMachineConfiguration."),
    },
    "BatchPoolSpecification": {
        **_NO_PACKAGES,
        "cloudServiceConfiguration": Refusal("Use virtualMachineConfiguration."),
    },
    "BatchPoolUpdateOptions": _NO_PACKAGES,
    "BatchPoolReplaceOptions": _NO_PACKAGES,
    "VirtualMachineConfiguration": {"containerConfiguration": Refusal(_CONTAINERS)},
    "ResourceFile": {
        "autoStorageContainerName": Refusal(
            "The emulator has no auto-storage account: use storageContainerUrl or httpUrl "
            "with a SAS token."
        ),
        "identityReference": Refusal(_IDENTITY),
    },
    "OutputFileBlobContainerDestination": {
        "identityReference": Refusal(_IDENTITY),
        "uploadHeaders": Refusal(
            "Upload headers are not emulated: blobs get the storage service's defaults."
        ),
    },
}

# Older api-versions' fields (gone from 2025-06-01): accepted and stored, no local effect.
_ANY_OBJECT: Json = {"type": "object"}
_LEGACY_POOL: Json = {
    "certificateReferences": {"type": "array", "items": _ANY_OBJECT},
    "applicationLicenses": {"type": "array", "items": {"type": "string"}},
    "identity": _ANY_OBJECT,
    "resourceTags": {"type": "object", "additionalProperties": {"type": "string"}},
    "targetNodeCommunicationMode": {"enum": ["default", "classic", "simplified"]},
    "cloudServiceConfiguration": _ANY_OBJECT,
}
LEGACY: dict[str, Json] = {
    "BatchPoolCreateOptions": {**_LEGACY_POOL, "maxTasksPerNode": {"type": "integer"}},
    "BatchPoolSpecification": {**_LEGACY_POOL, "maxTasksPerNode": {"type": "integer"}},
    "BatchPoolUpdateOptions": _LEGACY_POOL,
    "BatchPoolReplaceOptions": _LEGACY_POOL,
}
# Old names still sent by msrest-era SDKs, stored under the current one.
ALIASES: dict[str, dict[str, str]] = {
    "BatchPoolCreateOptions": {"maxTasksPerNode": "taskSlotsPerNode"},
    "BatchPoolSpecification": {"maxTasksPerNode": "taskSlotsPerNode"},
}
# A job's pool is given by id or by an auto pool specification: one of them is required.
_ONE_OF_REQUIRED = {
    "BatchPoolInfo": ("poolId", "autoPoolSpecification"),
    "BatchPoolInfoUpdate": ("poolId", "autoPoolSpecification"),
}


# --- the compiled schemas ------------------------------------------------------------------
@dataclass(frozen=True)
class Prep:
    """What an object's first keyword does to it before the others check it."""

    enums: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    refused: Mapping[str, Refusal] = field(default_factory=dict)
    read_only: frozenset[str] = frozenset()
    # Integer fields: the service reads a JSON string holding an integer as that integer, and
    # the Azure CLI sends every integer option of ``az batch`` so ("targetDedicatedNodes": "2").
    integers: frozenset[str] = frozenset()


@cache
def _definitions() -> Mapping[str, Json]:
    path = resources.files("batchflow.emulator").joinpath("data/batch_definitions.json")
    loaded: Mapping[str, Json] = json.loads(path.read_text())["definitions"]
    return loaded


def _ref_name(prop: Json) -> str | None:
    ref = prop.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


class _Compiler:
    """Definitions turned into inlined schemas (no ``$ref`` left to resolve on each request)."""

    def __init__(self, definitions: Mapping[str, Json]) -> None:
        self._defs = definitions
        self._done: dict[str, Json] = {}

    def definition(self, name: str) -> Json:
        if name not in self._done:
            self._done[name] = {}  # filled in place: a definition reached again shares it
            self._done[name].update(self._object(name, self._defs[name]))
        return self._done[name]

    def _object(self, owner: str, spec: Json) -> Json:
        props: dict[str, Json] = {**spec.get("properties", {}), **LEGACY.get(owner, {})}
        read_only = frozenset(n for n, p in props.items() if p.get("readOnly"))
        enums = {
            n: {v.lower(): v for v in values} for n, p in props.items() if (values := self._enum(p))
        }
        out: Json = {
            "type": "object",
            "x-prepare": Prep(
                enums,
                REFUSED.get(owner, {}),
                read_only,
                frozenset(n for n, p in props.items() if p.get("type") == "integer"),
            ),
            "properties": {
                n: self._property(owner, n, p) for n, p in props.items() if n not in read_only
            },
            "required": [n for n in spec.get("required", []) if n not in read_only],
            "additionalProperties": False,
        }
        if owner in _ONE_OF_REQUIRED:
            out["x-one-of-required"] = _ONE_OF_REQUIRED[owner]
        if owner in ALIASES:
            out["x-aliases"] = ALIASES[owner]
        return out

    def _enum(self, prop: Json) -> list[str]:
        name = _ref_name(prop)
        target = self._defs[name] if name else prop
        return list(target.get("enum", []))

    def _property(self, owner: str, name: str, prop: Json) -> Json:
        if values := self._enum(prop):
            return {"x-enum": frozenset(v.lower() for v in values), "x-values": values}
        ref = _ref_name(prop)
        if ref is not None:
            return self.definition(ref)
        return self._plain(prop, owner, name)

    def _plain(self, prop: Json, owner: str, name: str) -> Json:
        kind = prop.get("type")
        out: Json = {"type": kind} if kind else {}
        if kind == "array":
            out["items"] = self._property(owner, name, prop.get("items", {}))
        elif kind == "object" and isinstance(prop.get("additionalProperties"), dict):
            out["additionalProperties"] = self._property(owner, name, prop["additionalProperties"])
        elif kind == "integer":
            out["x-int"] = _RANGES.get(name, (INT32_MIN, INT32_MAX, None))
        elif kind == "string":
            fmt = prop.get("format")
            if fmt == "duration":
                out["x-duration"] = True
            elif fmt == "password":
                out["x-secret"] = True
            if (owner, name) in _IDS:
                out["x-id"] = True
            if name == "displayName":
                out["x-maxlen"] = MAX_DISPLAY_NAME
        if name in _SECRET_OBJECTS:
            out["x-secret"] = True
        return out


# --- the keywords --------------------------------------------------------------------------
Keyword = Callable[[Any, Any, Any, Json], "list[ValidationError]"]


def _error(
    kind: str, instance: Any, schema: Json, message: str = "", at: str | None = None
) -> ValidationError:
    return ValidationError(
        message,
        validator=kind,
        instance=instance[at] if at is not None else instance,
        schema=schema,
        path=() if at is None else (at,),
    )


# Each keyword returns the list of its errors (an empty one, almost always): jsonschema takes
# any iterable, and a list is cheaper than a generator on the hot path. Only the first error
# is ever reported, so a keyword stops at its first: a body of a million unknown properties
# costs one error, not a million.
Errors = list[ValidationError]
_NONE: Errors = []


def _prepare(_v: Any, prep: Prep, instance: Any, schema: Json) -> Errors:
    if type(instance) is not dict:
        return _NONE
    for name in list(instance):
        value = instance[name]
        if value is None or name in prep.read_only:
            del instance[name]
        elif name in prep.refused and prep.refused[name].applies(value):
            # An empty one (older SDKs always send some) is accepted and stored as sent.
            return [_error("x-refused", instance, schema, prep.refused[name].hint, name)]
        elif name in prep.enums and type(value) is str:
            instance[name] = prep.enums[name].get(value.lower(), value)
        elif name in prep.integers and type(value) is str and INT_TEXT.fullmatch(value):
            instance[name] = int(value)
    return _NONE


def _aliases(_v: Any, aliases: Mapping[str, str], instance: Any, _s: Json) -> Errors:
    # The last keyword of its object: errors named the field as sent, the state gets the
    # current name.
    if type(instance) is dict:
        for old, new in aliases.items():
            if old in instance:
                instance[new] = instance.pop(old)
    return _NONE


def _enum(_v: Any, allowed: frozenset[str], instance: Any, schema: Json) -> Errors:
    if type(instance) is str and instance.lower() in allowed:
        return _NONE
    return [_error("x-enum", instance, schema, f"Expected one of {', '.join(schema['x-values'])}.")]


def _int(_v: Any, bounds: tuple[int, int, int | None], instance: Any, schema: Json) -> Errors:
    lo, hi, special = bounds
    if type(instance) is not int or lo <= instance <= hi or instance == special:
        return _NONE
    also = "" if special is None else f"{special} or "
    return [_error("x-int", instance, schema, f"Must be {also}an integer from {lo} to {hi}.")]


def _duration(_v: Any, _on: bool, instance: Any, schema: Json) -> Errors:
    if type(instance) is not str:
        return _NONE
    try:
        isodate.parse_duration(instance)
    except (isodate.ISO8601Error, ValueError):
        why = "Expected an ISO 8601 duration such as PT30M."
    except OverflowError:
        # More days than a timedelta holds (the SDKs' "unlimited", timedelta.max, still fits).
        why = "The duration is out of range (at most P999999999D)."
    else:
        return _NONE
    return [_error("x-duration", instance, schema, why)]


def _id(_v: Any, _on: bool, instance: Any, schema: Json) -> Errors:
    if type(instance) is not str or ID.fullmatch(instance):
        return _NONE
    why = "Ids have 1 to 64 letters, digits, hyphens or underscores."
    return [_error("x-id", instance, schema, why)]


def _maxlen(_v: Any, most: int, instance: Any, schema: Json) -> Errors:
    if type(instance) is not str or len(instance) <= most:
        return _NONE
    return [_error("x-maxlen", instance, schema, f"The value is longer than {most} characters.")]


def _missing(instance: Json, name: str) -> ValidationError:
    return ValidationError("", validator="required", instance=instance, path=(name,))


def _required(_v: Any, names: list[str], instance: Any, _s: Json) -> Errors:
    if type(instance) is not dict:
        return _NONE
    for name in names:
        if name not in instance:
            return [_missing(instance, name)]
    return _NONE


def _one_of_required(_v: Any, names: tuple[str, ...], instance: Any, _s: Json) -> Errors:
    if type(instance) is not dict or any(n in instance for n in names):
        return _NONE
    return [_missing(instance, names[0])]


def _additional(v: Any, extra: Any, instance: Any, schema: Json) -> Errors:
    if type(instance) is not dict:
        return _NONE
    known = schema.get("properties", {})
    for name, value in instance.items():
        if name in known:
            continue
        if extra is False:
            return [_error("additionalProperties", instance, schema, at=name)]
        found: Errors = v.descend(value, extra, path=name)
        if found:
            return found
    return _NONE


def _is_integer(_checker: Any, instance: object) -> bool:
    # The one place a JSON number is read as an integer (a bool is not one).
    return type(instance) is int


def _is_string(_checker: Any, instance: object) -> bool:
    # A NUL cannot reach a command line, an environment or a file name: refused here rather
    # than failing the task later with a server error.
    return type(instance) is str and "\x00" not in instance


_KEYWORDS: dict[str, Keyword] = {
    "x-prepare": _prepare,
    "x-aliases": _aliases,
    "x-enum": _enum,
    "x-int": _int,
    "x-duration": _duration,
    "x-id": _id,
    "x-maxlen": _maxlen,
    "x-one-of-required": _one_of_required,
    "required": _required,
    "additionalProperties": _additional,
}
_BatchValidator = validators.extend(
    Draft4Validator,
    _KEYWORDS,
    type_checker=Draft4Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "string": _is_string}
    ),
)


@cache
def compiled(name: str) -> Json:
    """The inlined schema of the body definition ``name`` (e.g. ``BatchTaskCreateOptions``;
    ``BatchTaskGroup`` is a task collection)."""
    return _Compiler(_definitions()).definition(name)


def reference_validator(name: str) -> Validator:
    """``jsonschema``'s Draft 4 validator with the emulator's keywords over ``compiled(name)``:
    the reference ``Walker`` is tested against."""
    return _BatchValidator(compiled(name))


def _type(_v: Any, kind: str, instance: Any, schema: Json) -> Errors:
    if _TYPES[kind](None, instance):
        return _NONE
    return [
        ValidationError(
            "", validator="type", validator_value=kind, instance=instance, schema=schema
        )
    ]


def _properties(v: Walker, props: Json, instance: Any, _s: Json) -> Errors:
    if type(instance) is not dict:
        return _NONE
    for name, sub in props.items():
        if name in instance:
            found: Errors = v.descend(instance[name], sub, name)
            if found:
                return found
    return _NONE


def _items(v: Walker, item: Json, instance: Any, _s: Json) -> Errors:
    if type(instance) is not list:
        return _NONE
    for i, sub in enumerate(instance):
        found: Errors = v.descend(sub, item, i)
        if found:
            return found
    return _NONE


_TYPES: dict[str, Callable[[Any, object], bool]] = {
    "integer": _is_integer,
    "string": _is_string,
    "object": lambda _c, x: type(x) is dict,
    "array": lambda _c, x: type(x) is list,
    "boolean": lambda _c, x: type(x) is bool,
    "number": lambda _c, x: type(x) in (int, float),
}
_WALKED: dict[str, Keyword] = {
    **_KEYWORDS,
    "type": _type,
    "properties": _properties,
    "items": _items,
}


class Walker:
    """The compiled schemas applied with exactly ``reference_validator``'s keywords, by a walk
    an order of magnitude cheaper than ``jsonschema``'s own (whose per-level ``evolve`` made
    one 100-task collection cost 19 ms instead of 2): this is the hot path of addtaskcollection.
    """

    def __init__(self, schema: Json) -> None:
        self.schema = schema
        # Each schema's keywords, looked up once (schemas live as long as the walker).
        self._plans: dict[int, tuple[tuple[Keyword, Any], ...]] = {}

    def _plan(self, schema: Json) -> tuple[tuple[Keyword, Any], ...]:
        plan = self._plans.get(id(schema))
        if plan is None:
            plan = tuple((_WALKED[k], v) for k, v in schema.items() if k in _WALKED)
            self._plans[id(schema)] = plan
        return plan

    def iter_errors(self, instance: object) -> Iterator[ValidationError]:
        """The first violation ``reference_validator`` would find, if any."""
        return iter(self.descend(instance, self.schema))

    def descend(self, instance: object, schema: Json, path: str | int | None = None) -> Errors:
        """The first violation of ``instance`` against ``schema`` (its path under ``path``)."""
        for keyword, value in self._plans.get(id(schema)) or self._plan(schema):
            found = keyword(self, value, instance, schema)
            if found:
                if path is not None:
                    found[0].path.appendleft(path)
                return found[:1]
        return _NONE


@cache
def validator(name: str) -> Walker:
    """The validator of the body definition ``name``."""
    return Walker(compiled(name))


# --- errors as the service shapes them -----------------------------------------------------
def path_text(parts: Iterable[str | int]) -> str:
    """``["a", 0, "b"]`` -> ``a[0].b``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


_EXPECTED = {
    "object": "a JSON object",
    "array": "a JSON array",
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "number": "a number",
}


def _shown(error: ValidationError) -> str:
    if isinstance(error.schema, dict) and error.schema.get("x-secret"):
        return "***"  # a password the client sent is never echoed
    value = error.instance
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 32 else f"{text[:32]}..."


def to_batch_error(error: ValidationError, skip: int = 0) -> BatchServiceError:
    """The service's 400 for one schema violation (``skip``: leading path parts to drop)."""
    where = path_text(list(error.absolute_path)[skip:])
    kind = error.validator
    if kind == "required":
        return errors.missing_required_property(where)
    if kind == "additionalProperties":
        return errors.unknown_property(where)
    if kind == "x-refused":
        return errors.unsupported_property(where, error.message)
    if kind == "type":
        instance = error.instance
        if isinstance(instance, str) and "\x00" in instance:
            reason = "The value contains a NUL character."
        else:
            reason = f"Expected {_EXPECTED.get(str(error.validator_value), 'another type')}."
        return errors.invalid_property_value(where or "(the body)", _shown(error), reason)
    return errors.invalid_property_value(where, _shown(error), error.message)


def first_error(name: str, body: object) -> BatchServiceError | None:
    """The first violation of ``body`` against definition ``name`` (the body is made
    canonical in place), or None."""
    for error in validator(name).iter_errors(body):
        return to_batch_error(error)
    return None
