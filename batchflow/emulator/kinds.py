"""The vocabulary every part of the emulator shares: the ``Json`` document alias and the
states, results and reasons that the REST API spells as strings.

Each enum is a ``str`` (``class X(str, Enum)``: the package supports Python 3.10, before
``enum.StrEnum``), so a member is stored, compared and serialised as the wire's own string.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
