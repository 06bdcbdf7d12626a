"""A local Azure Batch service: the real REST API, tasks run as local processes.

Three parts, imports pointing one way (``http -> state <- node``; see ``README.md``):
``http/`` (the REST surface: routes, auth, OData, request checks), ``state/`` (the account's
pools, jobs and tasks over the SQLite store: the only SQL), ``node/`` (local nodes, the
scheduler, processes, files). ``autoscale/`` is the pure formula language; ``errors`` and
``shapes`` are the vocabulary all parts share; ``service`` and ``server`` put the parts together.
"""

from __future__ import annotations

# The well-known development account, like Azurite's devstoreaccount1: public on purpose,
# it guards nothing but a loopback socket on a developer's machine.
DEV_ACCOUNT = "devbatch"
DEV_KEY = "YmF0Y2hmbG93LWRldi1rZXktbm90LWEtc2VjcmV0LWxvb3BiYWNrLW9ubHktMDEyMzQ1Njc4OWFi"
