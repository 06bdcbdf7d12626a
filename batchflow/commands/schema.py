"""``batchflow schema``: print the spec's JSON Schema (for editors and other tools)."""

from __future__ import annotations

import sys

from batchflow.spec.schema import schema_text


def schema_cmd() -> int:
    """Write the published schema to stdout."""
    text = schema_text()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
