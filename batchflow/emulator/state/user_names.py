"""Which names a node user account (``BatchNodeUserCreateOptions.name``) may have.

Batch documents no rule of its own for them; its user account names are "up to a maximum
length of 20", and a node is an Azure VM whose OS makes the account: Azure refuses a VM user
name longer than 20 characters, ending with a period, or holding any of ``\\ / " [ ] : | < > +
= ; , ? * @`` (Windows' rule), and neither Windows nor Linux takes a control character (a
newline would also forge lines in the node's own log, which ``uploadbatchservicelogs``
uploads). The refusal is the service's for a bad property value: 400 InvalidPropertyValue.
"""

from __future__ import annotations

from batchflow.emulator import errors

MAX_LENGTH = 20
_FORBIDDEN = frozenset('\\/"[]:|<>+=;,?*@')


def _why_not(name: str) -> str | None:
    if not name.strip():
        return "A user name must not be empty."
    if len(name) > MAX_LENGTH:
        return f"A user name can be at most {MAX_LENGTH} characters long."
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name):
        return "A user name must not contain control characters."
    if any(c in _FORBIDDEN for c in name):
        return 'A user name must not contain any of \\ / " [ ] : | < > + = ; , ? * @.'
    if name.endswith("."):
        return "A user name must not end with a period."
    return None


def check_user_name(name: str) -> None:
    """400 InvalidPropertyValue naming ``name`` and why, if a node could not have that user."""
    why = _why_not(name)
    if why is not None:
        raise errors.invalid_property_value("name", name, why)
