"""What the service takes and never gives back, which the emulator therefore does not keep.

A VM extension's ``protectedSettings`` are a secret (keys, passwords) handed to the extension on
each node: the service's pool GET shows the extension without them (azure-rest-api-specs'
PoolCreate/PoolGet_VirtualMachineConfiguration_Extensions: sent on create, absent on get). No
extension runs here, so nothing needs them: they are dropped from a pool, job or job schedule
body before it is stored, and so are in neither an answer nor the emulator's files.
"""

from __future__ import annotations

from typing import Any

from batchflow.emulator.kinds import Json

_PROTECTED = "protectedSettings"


def _without(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _extensions(v) if k == "extensions" else _without(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without(item) for item in value]
    return value


def _extensions(value: Any) -> Any:
    """The items of an ``extensions`` list (VMExtensions) without the secret; a key of that
    name elsewhere (in free-form ``settings``, say) is the user's and left alone."""
    if not isinstance(value, list):
        return _without(value)
    return [
        {k: _without(v) for k, v in item.items() if k != _PROTECTED}
        if isinstance(item, dict)
        else item
        for item in value
    ]


def without_protected_settings(body: Json) -> Json:
    """``body`` (a pool, job or job schedule, or a part of one) without any VM extension's
    protected settings, wherever an ``extensions`` list holds them; a copy, ``body`` is left
    as it was."""
    result: Json = _without(body)
    return result
