"""Account-level listings: the supported images and each pool's node counts."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from batchflow.emulator import errors
from batchflow.emulator.http import odata, versions
from batchflow.emulator.http.base import JSON_TYPE, Req, dumps, snapshot_headers
from batchflow.emulator.state import images
from batchflow.emulator.state.store import Page


def supported_images(req: Req) -> Response:
    q = odata.parse_list_query(req.query)
    page = images.list_images(q.filter, q.token, q.limit)
    return _listing(req, q, page, "supportedimages")


def node_agent_skus(req: Req) -> Response:
    # ListNodeAgentSKUs: in the API until 2019-06-01.9.0 replaced it with ListSupportedImages;
    # azure-batch 6.0 (2018-12-01.8.0) still calls it. A newer client meets the unknown-URI 404.
    if versions.before(req.api_version, "2019-06-01.9.0"):
        q = odata.parse_list_query(req.query)
        return _listing(req, q, images.node_agent_skus(q.token, q.limit), "nodeagentskus")
    raise errors.resource_not_found(
        "The requested URI does not represent any resource on the server."
    )


def node_counts(req: Req) -> Response:
    q = odata.parse_list_query(req.query)
    page = images.node_counts(req.core, q.filter, q.token, q.limit)
    return _listing(req, q, page, "poolnodecounts")


def _listing(req: Req, q: odata.ListQuery, page: Page, kind: str) -> Response:
    """One page of items that have no url of their own (unlike pools, jobs, tasks)."""
    value = [odata.project(dict(item), q.select) for item in page.items]
    body: dict[str, Any] = {"odata.metadata": f"{req.base_url}/$metadata#{kind}", "value": value}
    link = odata.next_link(req.base_url, req.raw_path, req.api_version, q, page.next_token)
    if link:
        body["odata.nextLink"] = link
    return Response(dumps(body), 200, snapshot_headers(), media_type=JSON_TYPE)
