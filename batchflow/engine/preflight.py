"""Checks against the target before anything is created: the spec's image and node agent SKU
among the account's supported images, its VM size in the target's catalog (where it has one).

On Azure a pool whose image and agent do not go together is refused at creation (400
InvalidPropertyValue) after the inputs were uploaded, and an unknown VM size likewise; asked
first, the user learns it before any upload, with the closest images the account offers.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence

from batchflow.engine.protocols import SupportedImage
from batchflow.plan_model import ImageRef

SHOWN = 3


def _key(*parts: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in parts)


def image_problem(want: ImageRef, images: Sequence[SupportedImage]) -> str | None:
    """Why the target cannot run ``want`` (None when its image and agent are listed)."""
    if not images:
        return None  # a target that lists nothing (a custom image service): nothing to check
    image = _key(want.publisher, want.offer, want.sku)
    same = [i for i in images if _key(i.publisher, i.offer, i.sku) == image]
    if any(i.node_agent_sku.lower() == want.node_agent_sku.lower() for i in same):
        return None
    name = f"{want.publisher}/{want.offer}/{want.sku}"
    if same:
        agents = ", ".join(sorted({i.node_agent_sku for i in same}))
        return (
            f"image {name} runs with node agent {agents}, not {want.node_agent_sku}: "
            f"set node_agent_sku: {same[0].node_agent_sku}"
        )
    return (
        f"image {name} with node agent {want.node_agent_sku} is not among the target's "
        f"{len(images)} supported images; closest: {'; '.join(closest(want, images))}"
    )


def closest(want: ImageRef, images: Sequence[SupportedImage]) -> list[str]:
    """The names of the supported images most like ``want`` (verified ones first on a tie)."""
    text = f"{want.publisher}/{want.offer}/{want.sku} ({want.node_agent_sku})".lower()
    ranked = sorted(
        images,
        key=lambda i: (
            -difflib.SequenceMatcher(None, text, i.name.lower()).ratio(),
            not i.verified,
        ),
    )
    return [i.name for i in ranked[:SHOWN]]


def vm_size_problem(vm_size: str, sizes: Collection[str] | None) -> str | None:
    """Why the target has no ``vm_size`` (None when it has it, or keeps no catalog)."""
    if sizes is None or vm_size.lower() in {s.lower() for s in sizes}:
        return None
    near = difflib.get_close_matches(vm_size.lower(), sorted(s.lower() for s in sizes), SHOWN)
    hint = f"; closest: {', '.join(near)}" if near else ""
    return f"VM size {vm_size} is not available to Batch pools on this target{hint}"
