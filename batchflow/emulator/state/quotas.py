"""The account's limits: the VM size catalog, core quotas, the active jobs and job schedules
quota (``job_quota``) and injected allocation failures.

A Batch account counts the cores of its dedicated nodes against a quota per VM family (and a
total), and the cores of its spot (low-priority) nodes against one total. A resize that would
pass a quota allocates what fits and reports why the rest did not come in the pool's
``resizeErrors``; the pool's allocation still ends steady, as on Azure. The catalog
(``data/vm_sizes.json``, shipped with the package) gives each size its cores and family; a
pool asking for a size it does not list is refused as the service refuses it.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import TYPE_CHECKING

from batchflow.emulator import errors
from batchflow.emulator.kinds import Json

if TYPE_CHECKING:  # core.py holds a Quotas: the import runs the other way at run time
    from batchflow.emulator.state.core import Core


@dataclass(frozen=True)
class VmSize:
    name: str
    cores: int
    memory_gib: float
    family: str


@functools.cache
def catalog() -> Mapping[str, VmSize]:
    """Every size the emulator knows, by lower-case name."""
    text = resources.files("batchflow.emulator").joinpath("data/vm_sizes.json").read_text()
    return {
        s["name"].lower(): VmSize(s["name"], int(s["cores"]), float(s["memoryGiB"]), s["family"])
        for s in json.loads(text)["sizes"]
    }


def vm_size(name: str) -> VmSize:
    """The size ``name`` (case-insensitive); InvalidPropertyValue when the catalog lacks it."""
    size = catalog().get(name.lower())
    if size is None:
        raise errors.invalid_property_value(
            "vmSize", name, "The specified VM size is not available to Batch pools in this region."
        )
    return size


class Profile(str, enum.Enum):
    """Quota presets an emulator starts with (``--account-profile``)."""

    # Generous: no quota gets in the way of a local run.
    DEFAULT = "default"
    # A new subscription's Batch account: no dedicated and no spot cores until quota is
    # requested (what the portal shows as 0 vCPUs), so the first pool gets no node at all.
    NEW_ACCOUNT = "new-account"


class AllocationFailure(str, enum.Enum):
    """Allocation failures the control surface can inject (``resizeErrors`` codes)."""

    FAILED = "AllocationFailed"
    TIMED_OUT = "AllocationTimedout"


GENEROUS = 100_000
# A new account's active jobs and job schedules: "100-300" (Batch service quotas and limits).
NEW_ACCOUNT_ACTIVE_JOBS = 300


@dataclass(frozen=True)
class Quotas:
    """Core quotas: dedicated per family (lower-case family -> cores; ``family_default`` for
    the others), a dedicated total, and one total for spot cores; and how many jobs and job
    schedules not completed the account may have (``activeJobAndJobScheduleQuota``)."""

    family_default: int = GENEROUS
    families: Mapping[str, int] = field(default_factory=dict)
    dedicated_total: int = GENEROUS
    low_priority: int = GENEROUS
    active_jobs: int = GENEROUS

    @classmethod
    def of(cls, profile: Profile) -> Quotas:
        if profile is Profile.NEW_ACCOUNT:
            return cls(
                family_default=0,
                dedicated_total=0,
                low_priority=0,
                active_jobs=NEW_ACCOUNT_ACTIVE_JOBS,
            )
        return cls()

    def with_families(self, families: Mapping[str, int]) -> Quotas:
        merged = {**self.families, **{k.lower(): int(v) for k, v in families.items()}}
        return replace(self, families=merged)

    def family(self, name: str) -> int:
        return self.families.get(name.lower(), self.family_default)

    def to_json(self) -> Json:
        return {
            "dedicatedCoresPerFamily": dict(self.families),
            "dedicatedCoresDefaultPerFamily": self.family_default,
            "dedicatedCores": self.dedicated_total,
            "lowPriorityCores": self.low_priority,
            "activeJobAndJobScheduleQuota": self.active_jobs,
        }


def set_quotas(core: Core, body: Json) -> Json:
    """The control surface's ``quotas``: a profile (optional) and overrides on top of the
    current quotas. They count from the next resize on: as on Azure, raising a quota does
    not bring back nodes a resize already gave up."""
    with core.lock:
        quotas = Quotas.of(Profile(body["profile"])) if "profile" in body else core.quotas
        families = body.get("dedicatedCoresPerFamily") or []
        quotas = quotas.with_families({f["family"]: f["cores"] for f in families})
        if "dedicatedCores" in body:
            quotas = replace(quotas, dedicated_total=int(body["dedicatedCores"]))
        if "lowPriorityCores" in body:
            quotas = replace(quotas, low_priority=int(body["lowPriorityCores"]))
        if "activeJobAndJobScheduleQuota" in body:
            quotas = replace(quotas, active_jobs=int(body["activeJobAndJobScheduleQuota"]))
        core.quotas = quotas
        return quotas.to_json()


def get_quotas(core: Core) -> Json:
    with core.lock:
        return core.quotas.to_json()


def set_allocation_failure(core: Core, failure: str | None) -> Json:
    """Make every resize that would add nodes fail with ``failure`` (None or "none": stop)."""
    with core.lock:
        core.allocation_failure = None if failure in (None, "none") else AllocationFailure(failure)
        return {"failure": core.allocation_failure.value if core.allocation_failure else "none"}


def parse_family_quota(text: str) -> tuple[str, int]:
    """``FAMILY=N`` (a command-line flag) as a pair; ValueError when malformed."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip().isdigit():
        raise ValueError(f"expected FAMILY=CORES (e.g. standardDSv3Family=8), got {text!r}")
    return name.strip(), int(value)


def account_quotas(
    profile: str = Profile.DEFAULT.value,
    families: Iterable[str] = (),
    low_priority: int | None = None,
    active_jobs: int | None = None,
) -> Quotas:
    """Quotas from the command line: a profile, then ``FAMILY=N`` flags, a spot total and the
    active jobs and job schedules quota on top of it; ValueError naming what is wrong."""
    try:
        chosen = Profile(profile)
    except ValueError:
        known = ", ".join(p.value for p in Profile)
        raise ValueError(f"unknown account profile {profile!r} (known: {known})") from None
    quotas = Quotas.of(chosen).with_families(dict(parse_family_quota(f) for f in families))
    if low_priority is not None:
        quotas = replace(quotas, low_priority=low_priority)
    if active_jobs is not None:
        quotas = replace(quotas, active_jobs=active_jobs)
    if chosen is Profile.NEW_ACCOUNT and quotas.families:
        # A family given a quota on a new account also needs room in the dedicated total.
        quotas = replace(quotas, dedicated_total=sum(quotas.families.values()))
    return quotas


@dataclass(frozen=True)
class Usage:
    """Cores the account's other pools hold: dedicated per family and in total, and spot."""

    families: Mapping[str, int]
    dedicated: int
    low_priority: int

    @classmethod
    def of(cls, nodes: Iterable[tuple[str, bool]]) -> Usage:
        """From (vmSize, dedicated) of each node the other pools hold."""
        families: dict[str, int] = {}
        dedicated = low = 0
        for name, is_dedicated in nodes:
            size = catalog().get(name.lower())
            if size is None:
                continue  # a pool stored before the catalog existed holds no quota
            if is_dedicated:
                families[size.family.lower()] = families.get(size.family.lower(), 0) + size.cores
                dedicated += size.cores
            else:
                low += size.cores
        return cls(families, dedicated, low)


@dataclass(frozen=True)
class Grant:
    """How many nodes of each kind a resize may have, and the ``resizeErrors`` for the rest."""

    dedicated: int
    low_priority: int
    errors: tuple[Json, ...] = ()


def grant(
    quotas: Quotas,
    usage: Usage,
    size_name: str,
    dedicated: int,
    low_priority: int,
    failure: AllocationFailure | None = None,
    held: tuple[int, int] = (0, 0),
) -> Grant:
    """What a pool of ``size_name`` wanting these targets gets under the quotas, given what
    the other pools use and the ``held`` nodes (dedicated, spot) it has already. An injected
    ``failure`` stops any growth beyond them."""
    if failure is not None and (dedicated > held[0] or low_priority > held[1]):
        return Grant(
            min(dedicated, held[0]), min(low_priority, held[1]), (_failure_error(failure),)
        )
    size = catalog().get(size_name.lower())
    if size is None or size.cores == 0:
        return Grant(dedicated, low_priority)
    found: list[Json] = []
    free_family = quotas.family(size.family) - usage.families.get(size.family.lower(), 0)
    free_total = quotas.dedicated_total - usage.dedicated
    fits = max(0, min(free_family, free_total)) // size.cores
    if dedicated > fits:
        if free_family <= free_total:
            found.append(
                _error(
                    "AccountVMSeriesCoreQuotaReached",
                    f"The specified account has reached VM series core quota for {size.family}.",
                    size,
                    quotas.family(size.family),
                    dedicated,
                )
            )
        else:
            found.append(
                _error(
                    "AccountCoreQuotaReached",
                    "The specified account has reached VM core quota.",
                    size,
                    quotas.dedicated_total,
                    dedicated,
                )
            )
    spot_fits = max(0, quotas.low_priority - usage.low_priority) // size.cores
    if low_priority > spot_fits:
        found.append(
            _error(
                "AccountLowPriorityCoreQuotaReached",
                "The specified account has reached low priority VM core quota.",
                size,
                quotas.low_priority,
                low_priority,
            )
        )
    # A quota stops growth; it never takes away nodes the pool already has (a quota lowered
    # since, or taken by another pool), as on Azure.
    return Grant(
        min(dedicated, max(fits, held[0])),
        min(low_priority, max(spot_fits, held[1])),
        tuple(found),
    )


def _error(code: str, message: str, size: VmSize, quota: int, wanted: int) -> Json:
    values = {
        "VmSize": size.name,
        "VmFamily": size.family,
        "CoresPerNode": str(size.cores),
        "CoreQuota": str(quota),
        "RequestedNodes": str(wanted),
    }
    return {
        "code": code,
        "message": message,
        "values": [{"name": k, "value": v} for k, v in values.items()],
    }


def _failure_error(failure: AllocationFailure) -> Json:
    message = {
        AllocationFailure.FAILED: "Desired number of nodes could not be allocated.",
        AllocationFailure.TIMED_OUT: "Desired number of dedicated nodes could not be allocated "
        "as the resize timeout was reached.",
    }[failure]
    return {"code": failure.value, "message": message}
