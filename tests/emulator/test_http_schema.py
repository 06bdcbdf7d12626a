"""The fast walker that validates Batch bodies finds the first error jsonschema's own Draft 4
validator finds over the same compiled 2025-06-01 schemas, and leaves an accepted body in the
same canonical form."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from batchflow.emulator.http import schema

TASK: dict[str, Any] = {
    "id": "t1",
    "displayName": "a task",
    "commandLine": "/bin/true",
    "environmentSettings": [{"name": "A", "value": "1"}],
    "constraints": {"maxTaskRetryCount": 2, "maxWallClockTime": "PT1H"},
    "userIdentity": {"autoUser": {"scope": "Task", "elevationLevel": "admin"}},
    "exitConditions": {"exitCodes": [{"code": 3, "exitOptions": {"jobAction": "disable"}}]},
    "outputFiles": [
        {
            "filePattern": "*.txt",
            "destination": {"container": {"containerUrl": "http://x/c"}},
            "uploadOptions": {"uploadCondition": "taskCompletion"},
        }
    ],
}
POOL: dict[str, Any] = {
    "id": "p1",
    "vmSize": "standard_d2s_v3",
    "maxTasksPerNode": 2,
    "virtualMachineConfiguration": {
        "imageReference": {"publisher": "canonical", "offer": "ubuntu", "sku": "22_04-lts"},
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        "extensions": [{"name": "e", "publisher": "p", "type": "t", "settings": {"k": "v"}}],
    },
    "mountConfiguration": [{"nfsMountConfiguration": {"source": "s", "relativeMountPath": "m"}}],
    "userAccounts": [{"name": "u", "password": "secret-value", "elevationLevel": "Admin"}],
}
BODIES = {"BatchTaskCreateOptions": TASK, "BatchPoolCreateOptions": POOL}
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.text(max_size=5),
    st.sampled_from(["PT1M", "bogus", "ADMIN", "t\x00", "task", "x" * 1100]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["name", "value", "code", "x"]), st.text(max_size=3)),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, sub in value.items():
            found += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found += _paths(sub, (*prefix, i))
    return found


def _put(body: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        body = body[part]
    body[path[-1]] = value


def _first(errors: Any) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    every = list(errors)  # exhausted: jsonschema's lazy walk canonicalizes as it goes
    if not every:
        return None
    found = schema.to_batch_error(every[0])
    return found.code, found.values


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(BODIES)),
    pick=st.integers(min_value=0),
    value=ODD_VALUES,
    extra=st.sampled_from([None, "colour", "containerSettings"]),
)
def test_the_walker_agrees_with_jsonschema(name: str, pick: int, value: Any, extra: Any) -> None:
    body = copy.deepcopy(BODIES[name])
    paths = _paths(body)
    _put(body, paths[pick % len(paths)], value)
    if extra:
        body[extra] = {"imageName": "x"}
    walked, reference = copy.deepcopy(body), copy.deepcopy(body)
    got = _first(schema.validator(name).iter_errors(walked))
    want = _first(schema.reference_validator(name).iter_errors(reference))
    assert got == want
    if got is None:  # a refused body may be left half canonical: it is not stored
        assert walked == reference


def test_valid_bodies_pass_and_come_out_canonical() -> None:
    task = copy.deepcopy(TASK)
    assert schema.first_error("BatchTaskCreateOptions", task) is None
    assert task["userIdentity"]["autoUser"]["scope"] == "task"
    assert task["outputFiles"][0]["uploadOptions"]["uploadCondition"] == "taskcompletion"
    pool = copy.deepcopy(POOL)
    assert schema.first_error("BatchPoolCreateOptions", pool) is None
    assert pool["taskSlotsPerNode"] == 2 and "maxTasksPerNode" not in pool
    assert pool["userAccounts"][0]["elevationLevel"] == "admin"


def test_a_refused_password_is_never_echoed() -> None:
    pool = copy.deepcopy(POOL)
    pool["userAccounts"][0]["password"] = ["secret-value"]
    error = schema.first_error("BatchPoolCreateOptions", pool)
    assert error is not None
    assert dict(error.values)["PropertyName"] == "userAccounts[0].password"
    assert "secret-value" not in repr(error.values)


def test_every_body_of_the_api_compiles_and_names_what_is_missing() -> None:
    from batchflow.emulator.http import validation

    bodies = [v for v in vars(validation).values() if isinstance(v, validation.Body)]
    assert len(bodies) >= 24  # job schedules' and node operations' bodies included
    for body in bodies:
        error = schema.first_error(body.definition, {})
        assert error is None or error.code == "MissingRequiredProperty", body
    error = schema.first_error("BatchJobScheduleCreateOptions", {"id": "s", "schedule": {}})
    assert error is not None and dict(error.values)["PropertyName"] == "jobSpecification"
    user = {"name": "u", "isAdmin": True, "password": "x", "sshPublicKey": "ssh-rsa A"}
    assert schema.first_error("BatchNodeUserCreateOptions", user) is None
    remove = {"nodeList": ["n1"], "nodeDeallocationOption": "TaskCompletion"}
    assert schema.first_error("BatchNodeRemoveOptions", remove) is None
    assert remove["nodeDeallocationOption"] == "taskcompletion"


def test_a_body_full_of_mistakes_costs_one_error() -> None:
    body = {**copy.deepcopy(TASK), **{f"x{i}": i for i in range(10_000)}}
    body["environmentSettings"] = [{"name": i} for i in range(10_000)]
    errors = list(schema.validator("BatchTaskCreateOptions").iter_errors(body))
    assert len(errors) == 1
    assert schema.path_text(errors[0].absolute_path) == "environmentSettings[0].name"
