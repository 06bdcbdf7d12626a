"""The spec against its target, before anything is created (``run``) or instead of it
(``plan``): image and node agent SKU among the supported images, VM size in the catalog where
the target keeps one. A mismatch is a spec problem (exit 2) located at the spec's line."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from importlib import resources

from batchflow.engine.preflight import image_problem, vm_size_problem
from batchflow.engine.protocols import SupportedImage
from batchflow.errors import Problem, SpecError
from batchflow.plan_model import Plan
from batchflow.spec.where import in_scalar, problem_at


def check(
    plan: Plan, spec: str, images: Sequence[SupportedImage], sizes: Collection[str] | None
) -> None:
    """SpecError naming every mismatch, each at its spec line."""
    problems = []
    if message := image_problem(plan.pool.image, images):
        problems.append(problem_at(spec, ("pool", "image"), message))
    if message := vm_size_problem(plan.pool.vm_size, sizes):
        problems.append(problem_at(spec, ("pool", "vm_size"), message))
    if problems:
        raise SpecError(problems)


def local_images() -> list[SupportedImage]:
    """The local target's supported images (the emulator's shipped list), read without
    starting it: ``plan`` touches nothing."""
    text = resources.files("batchflow.emulator").joinpath("data/supported_images.json")
    return [
        SupportedImage(
            publisher=i["imageReference"]["publisher"],
            offer=i["imageReference"]["offer"],
            sku=i["imageReference"]["sku"],
            node_agent_sku=i["nodeAgentSKUId"],
            os_type=i["osType"],
            verified=i["verificationType"] == "verified",
            end_of_life=i.get("batchSupportEndOfLife", ""),
        )
        for i in json.loads(text.read_text())["images"]
    ]


def local_sizes() -> frozenset[str]:
    """The local target's VM size catalog (the emulator's shipped one), read likewise."""
    text = resources.files("batchflow.emulator").joinpath("data/vm_sizes.json")
    return frozenset(str(size["name"]) for size in json.loads(text.read_text())["sizes"])


_POSITION = re.compile(r"Line (\d+), Col (\d+): (.*)", re.S)
_FORMULA_PATH = ("pool", "autoscale", "formula")


def formula_problem(spec: str, formula: str | None, slots_per_node: int) -> Problem | None:
    """The autoscale formula checked and evaluated once by the emulator's evaluator, as the
    service does when the pool is created (one sample, no task yet): its error at the spec's
    line and column, with the formula's own line, or None."""
    if not formula:
        return None
    import datetime as _dt

    from batchflow.emulator.autoscale import (
        AutoscaleEnvironment,
        FormulaError,
        Metric,
        SampleStore,
        compile_formula,
    )

    try:
        compiled = compile_formula(formula)
    except FormulaError as exc:
        code, detail = exc.code, f"{exc.position.prefix()}: {exc.detail}"
    else:
        now = _dt.datetime.now(_dt.timezone.utc)
        samples = SampleStore()
        first = dict.fromkeys(Metric, 0.0)
        first[Metric.TASK_SLOTS_PER_NODE] = float(slots_per_node)
        samples.record(now, first)
        run = compiled.evaluate(AutoscaleEnvironment(samples=samples.snapshot()), now)
        # Too few samples on a new pool is the history's fault, not the formula's: the
        # service's next evaluations have more (the docs' formulas guard with
        # GetSamplePercent, and one that does not still works after a while).
        if run.error is None or run.error.code == "InsufficientSampleData":
            return None
        code = run.error.code
        detail = dict(run.error.values).get("Message", run.error.message)
    return _located_formula_problem(spec, code, detail)


def _located_formula_problem(spec: str, code: str, detail: str) -> Problem:
    match = _POSITION.fullmatch(detail)
    if match is None:
        return problem_at(spec, _FORMULA_PATH, f"{code}: {detail}")
    line, col = int(match.group(1)), int(match.group(2))
    at_line, at_col = in_scalar(spec, _FORMULA_PATH, line, col)
    message = f"{code} at line {line}, column {col} of the formula: {match.group(3)}"
    return Problem(spec, at_line, at_col, ".".join(_FORMULA_PATH), message)
