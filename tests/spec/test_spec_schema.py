"""The published schema, and its errors as a person reads them: located, all at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from spec_files import one, problems

from batchflow.spec.schema import SCHEMA_PATH, schema_text

REPO = Path(__file__).resolve().parents[2]


def _objects(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append((path, node))
        for key, value in node.items():
            found += _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _objects(value, f"{path}/{i}")
    return found


def test_schema_is_valid_2020_12_and_published_at_the_top_level() -> None:
    schema = json.loads(schema_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert (REPO / "schemas" / "batchflow.schema.json").resolve() == SCHEMA_PATH


def test_every_object_is_closed_and_every_field_described() -> None:
    objects = _objects(json.loads(schema_text()))
    assert len(objects) > 10
    for path, obj in objects:
        assert obj.get("additionalProperties") is False, path
        for name, prop in obj["properties"].items():
            assert prop.get("description"), f"{path}/{name} has no description"


def test_descriptions_name_the_batch_rest_field() -> None:
    schema = json.loads(schema_text())
    pool = schema["properties"]["pool"]["properties"]
    assert "targetLowPriorityNodes" in pool["nodes"]["properties"]["spot"]["description"]
    assert "taskSlotsPerNode" in pool["slots_per_node"]["description"]
    tasks = schema["properties"]["tasks"]["properties"]
    assert "maxTaskRetryCount" in tasks["retries"]["description"]
    assert "commandLine" in tasks["command"]["description"]


@pytest.mark.parametrize("example", ["quickstart.yaml", "ffmpeg.yaml"])
def test_examples_point_editors_at_the_schema(example: str) -> None:
    first = (REPO / "examples" / example).read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/batchflow.schema.json"


def test_unknown_keys_suggest_the_known_one(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        version: 1
        name: demo
        pool:
          vmsize: standard_a1_v2
          image: ubuntu-22.04
          nodes: {dedicatd: 1}
        tasks: {list: [{id: a, command: x}]}
        colour: red
        """,
        base=False,
    )
    spec = str(tmp_path / "spec.yaml")
    assert f"{spec}:4:3: pool.vmsize: unknown key 'vmsize'; did you mean 'vm_size'?" in map(
        str, found
    )
    one(found, "pool.nodes.dedicatd", "did you mean 'dedicated'?")
    one(found, "pool", "missing required key 'vm_size'")
    one(found, "colour", "unknown key 'colour' (known: version, name")


def test_wrong_types_and_ranges_are_all_reported_with_positions(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        version: 1
        name: demo
        pool:
          vm_size: standard_a1_v2
          image: ubuntu-22.10
          nodes: {dedicated: -1, spot: many}
          slots_per_node: 1000
        tasks:
          list: [{id: a, command: [x]}]
          retries: 2.5
          outputs: [3, {pattern: x, when: sometimes}]
        cleanup: {job: nuke}
        """,
        base=False,
    )
    text = [str(p) for p in found]
    spec = str(tmp_path / "spec.yaml")
    assert f"{spec}:6:22: pool.nodes.dedicated: -1 is less than the minimum of 0" in text
    one(found, "pool.image", "did you mean 'ubuntu-22.04'?")
    one(found, "pool.nodes.spot", "expected a whole number, got text")
    one(found, "pool.slots_per_node", "1000 is greater than the maximum of 256")
    one(found, "tasks.list[0].command", "expected text, got a list")
    one(found, "tasks.retries", "expected a whole number, got a number")
    one(found, "tasks.outputs[0]", "expected text or a mapping, got a number")
    one(found, "tasks.outputs[1].when", "'sometimes' is not one of: success, failure, completion")
    one(found, "cleanup.job", "'nuke' is not one of: delete, keep")
    assert len(found) == 9
    assert [(p.line, p.col) for p in found] == sorted((p.line, p.col) for p in found)


def test_unsupported_version_and_bad_names(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        version: 2
        name: "bad name!"
        params: {1x: 3}
        pool: {vm_size: a, image: ubuntu-22.04, nodes: {dedicated: 1}}
        tasks: {list: [{id: a, command: x, environment: {"1A": b}}]}
        """,
        base=False,
    )
    one(found, "version", "2 is not a supported spec version (this batchflow reads version 1)")
    one(found, "name", "must be 1-50 letters")
    one(found, "params.1x", "key '1x' is not a valid param name")
    one(found, "tasks.list[0].environment.1A", "is not a valid environment variable name")


def test_tasks_need_exactly_one_source(tmp_path: Path) -> None:
    found = problems(tmp_path, "tasks: {for_each: input, matrix: {a: [1]}, command: x}\n")
    one(found, "tasks", "needs exactly one of for_each, matrix or list")
    found = problems(tmp_path, "tasks: {command: x}\n")
    one(found, "tasks", "needs exactly one of for_each, matrix or list")


def test_image_reference_fields_are_checked(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        version: 1
        name: demo
        pool: {vm_size: a, image: {publisher: p, offer: o, sku: s, flavour: x}, nodes: {spot: 1}}
        tasks: {list: [{id: a, command: x}]}
        """,
        base=False,
    )
    one(found, "pool.image", "missing required key 'node_agent_sku'")
    one(found, "pool.image.flavour", "unknown key 'flavour'")


def test_a_value_of_the_wrong_shape_is_one_problem(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        version: 1
        name: demo
        pool: [1]
        tasks: [{id: a, command: b}]
        inputs: media/*.mp4
        """,
        base=False,
    )
    assert [(p.path, p.message) for p in found] == [
        ("pool", "expected a mapping, got a list"),
        ("tasks", "expected a mapping, got a list"),
        ("inputs", "expected a list, got text"),
    ]


def test_empty_lists_are_named(tmp_path: Path) -> None:
    found = problems(tmp_path, "tasks: {list: []}\n")
    one(found, "tasks.list", "must not be empty")
