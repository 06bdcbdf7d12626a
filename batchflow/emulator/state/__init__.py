"""The emulated account's state: pools, jobs, tasks and their outcomes over the SQLite store
(``store``: the only module with SQL). Imports neither ``http`` nor ``node``: the node side is
reached through the small Protocols of ``core`` that the service wires in."""
