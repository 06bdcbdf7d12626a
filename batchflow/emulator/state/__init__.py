"""The emulated account's state: pools, jobs, tasks and their outcomes over the SQLite store.
``store`` creates the schema and runs transactions; ``rows`` names every read and write of the
tables: the only two modules with SQL over them (``filter`` compiles ``$filter`` to a WHERE).
Imports neither ``http`` nor ``node``: the node side is reached through the small Protocols of
``core`` that the service wires in."""
