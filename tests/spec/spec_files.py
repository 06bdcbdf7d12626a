"""Helpers for spec tests: write a spec (and its input files) into a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

from batchflow.errors import Problem, SpecError
from batchflow.spec import Spec, load_spec

BASE = """\
version: 1
name: demo
pool: {vm_size: standard_a1_v2, image: ubuntu-22.04, nodes: {dedicated: 1}}
"""


def write_spec(tmp: Path, body: str, files: Iterable[str] = (), *, base: bool = True) -> Path:
    """Write ``body`` (after BASE unless ``base`` is False) as tmp/spec.yaml, plus ``files``."""
    for name in files:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"content of {name}\n".encode())
    spec = tmp / "spec.yaml"
    text = (BASE if base else "") + textwrap.dedent(body)
    spec.write_text(text, encoding="utf-8")
    return spec


def load(
    tmp: Path,
    body: str,
    files: Iterable[str] = (),
    *,
    base: bool = True,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Spec:
    """Write and load a spec that must be valid."""
    return load_spec(write_spec(tmp, body, files, base=base), overrides, environ or {})


def problems(
    tmp: Path,
    body: str,
    files: Iterable[str] = (),
    *,
    base: bool = True,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Write and load a spec that must be invalid; its problems."""
    with pytest.raises(SpecError) as info:
        load_spec(write_spec(tmp, body, files, base=base), overrides, environ or {})
    return list(info.value.problems)


def one(found: list[Problem], path: str, fragment: str) -> Problem:
    """The problem at ``path`` whose message holds ``fragment`` (fails listing all if none)."""
    hits = [p for p in found if p.path == path and fragment in p.message]
    assert hits, "\n".join(str(p) for p in found)
    return hits[0]
