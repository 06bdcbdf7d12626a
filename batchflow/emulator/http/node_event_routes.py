"""Control routes for what a real account does to nodes: preemption of spot nodes (once or
at a rate), unusable nodes, start tasks that fail on some nodes (``state/node_events.py``)."""

from __future__ import annotations

from starlette.responses import Response

from batchflow.emulator import errors
from batchflow.emulator.http.base import JSON_TYPE, Req, checked_body, dumps
from batchflow.emulator.http.body_check import Int, ListOf, Obj, Spec
from batchflow.emulator.kinds import Json
from batchflow.emulator.state import node_events


def _obj(required: str = "", **fields: Spec) -> Obj:
    return Obj(fields, frozenset(required.split()), {}, {})


PREEMPT = _obj(
    "poolId",
    poolId="str",
    nodeId="str",
    count=Int(1),
    everySeconds="any",
    recoverAfterSeconds="any",
)
UNUSABLE = _obj("poolId", poolId="str", nodeId="str")
FAULTS = _obj(poolId="str", startTaskExitCodes=ListOf(Int(0, 255)), unusableAtBoot=Int(0))


def _seconds(body: Json, name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise errors.invalid_property_value(name, value, "Expected a number of seconds >= 0.")
    return float(value)


def preempt(req: Req) -> Response:
    """Preempt spot nodes now, or (``everySeconds``) one at that interval until 0 stops it."""
    body = checked_body(req, PREEMPT)
    recover = _seconds(body, "recoverAfterSeconds", node_events.DEFAULT_RECOVER_S)
    if "everySeconds" in body:
        every = _seconds(body, "everySeconds", 0.0)
        answer = node_events.preempt_every(req.core, body["poolId"], every, recover)
    else:
        ids = node_events.preempt(
            req.core, body["poolId"], body.get("nodeId"), int(body.get("count", 1)), recover
        )
        answer = {"poolId": body["poolId"], "nodeIds": ids}
    return Response(dumps(answer), 200, media_type=JSON_TYPE)


def unusable(req: Req) -> Response:
    body = checked_body(req, UNUSABLE)
    node = node_events.make_unusable(req.core, body["poolId"], body.get("nodeId"))
    return Response(dumps({"poolId": body["poolId"], "nodeId": node}), 200, media_type=JSON_TYPE)


def node_faults(req: Req) -> Response:
    body = checked_body(req, FAULTS)
    return Response(dumps(node_events.set_node_faults(req.core, body)), 200, media_type=JSON_TYPE)
