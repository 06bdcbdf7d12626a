"""Node user names a node could not have are refused, through the real azure-batch 15.x SDK:
400 InvalidPropertyValue naming ``name`` (too long, a control character such as a newline, a
character such as ``:``, a final period); a name the add refuses can be neither updated nor
deleted, and none of it reaches the node's log."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from tests.emulator.core_helpers import make_pool


def _refused(fn: Callable[[], object]) -> tuple[int, str, dict[str, str]]:
    with pytest.raises(HttpResponseError) as info:
        fn()
    error = info.value.model
    values = {str(d.key): str(d.value) for d in error.error_values or []}
    return int(info.value.status_code or 0), str(error.code), values


def _node(client: BatchClient) -> str:
    make_pool(client, "p1", nodes=1)
    return str(next(iter(client.list_nodes("p1"))).id)


@pytest.mark.parametrize(
    "name",
    ["a" * 21, "eve\nforged line", "tab\there", "a:b", "back\\slash", "x/y", "at@host", "dot."],
)
def test_a_name_a_node_cannot_have_is_refused(batch_client: BatchClient, name: str) -> None:
    node = _node(batch_client)
    status, code, values = _refused(
        lambda: batch_client.create_node_user(
            "p1", node, m.BatchNodeUserCreateOptions(name=name, password="pw")
        )
    )
    assert (status, code) == (400, "InvalidPropertyValue")
    assert values.get("PropertyName") == "name" and values.get("Reason")


def test_names_a_node_can_have_are_accepted(batch_client: BatchClient) -> None:
    node = _node(batch_client)
    for name in ("a" * 20, "svc_user-1", "Jane Doe", "user.name", "dönüş"):
        batch_client.create_node_user(
            "p1", node, m.BatchNodeUserCreateOptions(name=name, password="pw")
        )
        batch_client.replace_node_user(
            "p1", node, name, m.BatchNodeUserReplaceOptions(password="pw2")
        )
        batch_client.delete_node_user("p1", node, name)


def test_a_refused_name_is_no_user_to_update_or_delete(batch_client: BatchClient) -> None:
    node = _node(batch_client)
    for name in ("a:b", "a" * 21):
        update = lambda n=name: batch_client.replace_node_user(  # noqa: E731
            "p1", node, n, m.BatchNodeUserReplaceOptions(password="pw")
        )
        assert _refused(update)[:2] == (404, "NodeUserNotFound")
        assert _refused(lambda n=name: batch_client.delete_node_user("p1", node, n))[:2] == (
            404,
            "NodeUserNotFound",
        )
