"""The spec against its target, before anything is created (``run``) or instead of it
(``plan``): image and node agent SKU among the supported images, VM size in the catalog where
the target keeps one. A mismatch is a spec problem (exit 2) located at the spec's line."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from importlib import resources

from batchflow.engine.preflight import image_problem, vm_size_problem
from batchflow.engine.protocols import SupportedImage
from batchflow.errors import SpecError
from batchflow.plan_model import Plan
from batchflow.spec.where import problem_at


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
    """The local target's VM size catalog (the emulator's)."""
    from batchflow.emulator.state.quotas import catalog

    return frozenset(size.name for size in catalog().values())
