"""One loopback check: the emulator's bind guard, the adapters' proxy bypass and the local
target's choice of Azurite all ask ``batchflow.net`` whether an endpoint is this machine."""

from __future__ import annotations

import pytest

from batchflow.commands._target import _azurite_conn
from batchflow.net import is_loopback_url

KEY = "eA=="


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:10000/devstoreaccount1", True),
        ("http://localhost:10000", True),
        ("http://[::1]:10000", True),
        ("http://127.0.0.2:8250", True),
        ("https://localhostdata.blob.core.windows.net", False),
        ("https://acct.blob.core.windows.net/?x=127.0.0.1", False),
        ("not a url", False),
    ],
)
def test_loopback_is_judged_on_the_host_alone(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_azurite_is_a_blob_endpoint_on_this_machine() -> None:
    azurite = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )
    assert _azurite_conn({"AZURE_STORAGE_CONNECTION_STRING": azurite}) == azurite


@pytest.mark.parametrize(
    "conn",
    [
        # An Azure account whose name holds "localhost", or a remote endpoint whose path holds
        # "127.0.0.1": a real account, never to be taken for Azurite.
        f"DefaultEndpointsProtocol=https;AccountName=localhostdata;AccountKey={KEY};"
        "EndpointSuffix=core.windows.net",
        f"BlobEndpoint=https://acct.blob.core.windows.net/127.0.0.1;AccountKey={KEY}",
        "UseDevelopmentStorage=true",
    ],
)
def test_a_remote_account_is_not_taken_for_azurite(conn: str) -> None:
    assert _azurite_conn({"AZURE_STORAGE_CONNECTION_STRING": conn}) is None
