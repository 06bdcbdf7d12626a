"""The account's images and node counts: ``GET /supportedimages`` from the shipped list
(``data/supported_images.json``), the check a new pool's image and node agent pass, and
``GET /nodecounts`` from the local nodes.

An image reference the list holds must come with the node agent SKU listed for it, and the node
agent SKU must be one the service has: otherwise the pool add is refused 400
InvalidPropertyValue, as the service refuses it. A Marketplace image the list does not hold is
accepted with a known agent (the service lets any Marketplace image be tried; whether it boots
is the image's business), and a custom image (``imageReference.virtualMachineImageId``) is not
checked at all.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources

from batchflow.emulator import errors
from batchflow.emulator.kinds import Json, NodeState
from batchflow.emulator.state import rows
from batchflow.emulator.state.core import Core
from batchflow.emulator.state.filter import compile_filter, filter_values
from batchflow.emulator.state.store import Page

# The properties $filter may name on GET /supportedimages, and their columns.
IMAGE_FIELDS = {
    "verificationType": "verification",
    "osType": "os",
    "nodeAgentSKUId": "agent",
    "imageReference/publisher": "publisher",
    "imageReference/offer": "offer",
    "imageReference/sku": "sku",
}

# GET /nodecounts: every state of BatchNodeCounts (all required on the wire), by node state.
_COUNT_KEYS = (
    "creating",
    "idle",
    "offline",
    "preempted",
    "rebooting",
    "reimaging",
    "running",
    "starting",
    "startTaskFailed",
    "leavingPool",
    "unknown",
    "unusable",
    "waitingForStartTask",
    "deallocated",
    "deallocating",
    "upgradingOS",
)
_KEY_OF_STATE = {key.lower(): key for key in _COUNT_KEYS}


@functools.cache
def supported_images() -> tuple[Json, ...]:
    """Every image of the shipped list, as the wire shows it."""
    text = resources.files("batchflow.emulator").joinpath("data/supported_images.json")
    return tuple(json.loads(text.read_text())["images"])


def _key(ref: Mapping[str, object]) -> tuple[str, ...]:
    return tuple(str(ref.get(k) or "").lower() for k in ("publisher", "offer", "sku"))


def agents() -> frozenset[str]:
    """The node agent SKUs the service has (lower case)."""
    return frozenset(str(i["nodeAgentSKUId"]).lower() for i in supported_images())


def check_image(body: Json) -> None:
    """Refuse a pool whose image and node agent SKU do not go together (400
    InvalidPropertyValue naming nodeAgentSKUId, as the service answers)."""
    config = body.get("virtualMachineConfiguration")
    if not isinstance(config, dict):
        return
    ref = config.get("imageReference") or {}
    if not isinstance(ref, dict) or ref.get("virtualMachineImageId"):
        return
    agent = str(config.get("nodeAgentSKUId") or "")
    if agent.lower() not in agents():
        raise errors.invalid_property_value(
            "nodeAgentSKUId", agent, "The specified node agent SKU is not supported."
        )
    listed = [i for i in supported_images() if _key(i["imageReference"]) == _key(ref)]
    if listed and all(str(i["nodeAgentSKUId"]).lower() != agent.lower() for i in listed):
        image = "/".join(str(ref.get(k) or "") for k in ("publisher", "offer", "sku"))
        raise errors.invalid_property_value(
            "nodeAgentSKUId",
            agent,
            f"The image {image} is not supported with node agent SKU {agent} "
            f"(supported: {', '.join(sorted({str(i['nodeAgentSKUId']) for i in listed}))}).",
        )


def list_images(filter: str | None, token: str | None, limit: int) -> Page:
    """A page of the supported images, filtered as the service filters them."""
    return filter_values(
        list(supported_images()), _row, filter, IMAGE_FIELDS, int(token or 0), limit
    )


def node_agent_skus(token: str | None, limit: int) -> Page:
    """``GET /nodeagentskus`` (ListNodeAgentSKUs, api-versions before 2019-06-01.9.0, which
    replaced it with ListSupportedImages): the same list grouped by node agent, each with the
    verified images it runs, in the list's order."""
    skus: dict[str, Json] = {}
    for image in supported_images():
        sku = skus.setdefault(
            image["nodeAgentSKUId"],
            {
                "id": image["nodeAgentSKUId"],
                "verifiedImageReferences": [],
                "osType": image["osType"],
            },
        )
        if image["verificationType"] == "verified":
            sku["verifiedImageReferences"].append(dict(image["imageReference"]))
    start, listed = int(token or 0), list(skus.values())
    more = len(listed) > start + limit
    return Page(listed[start : start + limit], str(start + limit) if more else None)


def _row(image: Json) -> Sequence[str]:
    """The image's values of ``IMAGE_FIELDS``, in its order."""
    ref = image["imageReference"]
    return (
        image["verificationType"],
        image["osType"],
        image["nodeAgentSKUId"],
        ref["publisher"],
        ref["offer"],
        ref["sku"],
    )


def node_counts(core: Core, filter: str | None, token: str | None, limit: int) -> Page:
    """A page of ``BatchPoolNodeCounts``: each pool's dedicated and spot nodes by state, from
    the local nodes (a node shown idle or running counts as such)."""
    where, params = compile_filter(filter, {"poolId": "id"})
    page = rows.pools_page(core.store, where, params, token, limit)
    with core.lock:
        states = {
            pid: [(n.dedicated, n.public_state()) for n in nodes]
            for pid, nodes in core.nodes.items()
        }
    docs = [_counts(p["id"], states.get(str(p["id"]).lower(), [])) for p in page.items]
    return Page(docs, page.next_token)


def _counts(pool_id: str, nodes: list[tuple[bool, NodeState]]) -> Json:
    def tally(dedicated: bool) -> Json:
        counts: Json = dict.fromkeys(_COUNT_KEYS, 0)
        for is_dedicated, state in nodes:
            if is_dedicated == dedicated:
                key = _KEY_OF_STATE.get(str(state).lower(), "unknown")
                counts[key] += 1
        counts["total"] = sum(1 for d, _ in nodes if d == dedicated)
        return counts

    return {"poolId": pool_id, "dedicated": tally(True), "lowPriority": tally(False)}
