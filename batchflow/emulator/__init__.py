"""A local Azure Batch service: the real REST API, tasks run as local processes.

Layers: ``app`` (routes: parse, call the service, serialize), ``auth`` (SharedKey),
``errors`` (BatchError bodies), ``service`` (state and semantics, no HTTP), ``store``
(SQLite), ``scheduler`` / ``executor`` / ``files`` (running tasks on local nodes),
``server`` (EmulatorServer: uvicorn in a thread).
"""

from __future__ import annotations

# The well-known development account, like Azurite's devstoreaccount1: public on purpose,
# it guards nothing but a loopback socket on a developer's machine.
DEV_ACCOUNT = "devbatch"
DEV_KEY = "YmF0Y2hmbG93LWRldi1rZXktbm90LWEtc2VjcmV0LWxvb3BiYWNrLW9ubHktMDEyMzQ1Njc4OWFi"
