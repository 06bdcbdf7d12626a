"""A pool's ``resizeErrors``, read for the user: what the service said, and what to do.

On Azure a pool that cannot get its nodes (no core quota for its VM family, which is the
usual first run on a new account; no spot capacity; an allocation that failed or timed out)
ends its resize steady with ``resizeErrors`` and fewer nodes than asked. Waiting for nodes
after that is waiting for nothing: the engine stops at once when none came, and says the
pool is smaller than asked when some did.
"""

from __future__ import annotations

from batchflow.engine.protocols import PoolInfo, ResizeError
from batchflow.errors import BackendError

QUOTA_PAGE = "https://learn.microsoft.com/azure/batch/batch-quota-limit#increase-a-quota"


class PoolAllocationFailed(BackendError):
    """The pool's resize ended with errors and no usable node: the account, not the spec nor
    the tasks, stops the run (exit 3, as any service refusal)."""


def what_to_do(error: ResizeError, pool: PoolInfo) -> str:
    """The advice for one resize error, naming the VM family where the service gave it."""
    values = dict(error.values)
    family = values.get("VmFamily") or f"the VM family of {pool.vm_size}"
    if error.code in ("AccountVMSeriesCoreQuotaReached", "AccountCoreQuotaReached"):
        return (
            f"request more dedicated cores for {family} for the Batch account ({QUOTA_PAGE}), "
            "choose a vm_size of a family with quota, or ask for fewer nodes"
        )
    if error.code in ("AccountLowPriorityCoreQuotaReached", "AccountSpotCoreQuotaReached"):
        return (
            f"request more spot (low-priority) cores for the Batch account ({QUOTA_PAGE}), "
            "or use dedicated nodes instead of spot (nodes: {dedicated: N})"
        )
    if error.code in ("AllocationFailed", "AllocationTimedout"):
        return (
            f"Azure could not allocate {pool.vm_size} nodes now: run again later, or choose "
            "another vm_size or region"
        )
    return "see the pool's resize errors in the Azure portal"


def describe(errors: tuple[ResizeError, ...]) -> str:
    return "; ".join(f"{e.code}: {e.message.rstrip('.')}" for e in errors)


def no_node(pool: PoolInfo) -> PoolAllocationFailed:
    """No node came and none will: the service's code and message, and what to do."""
    first = pool.resize_errors[0]
    return PoolAllocationFailed(
        f"pool {pool.id} got no node: {describe(pool.resize_errors)}. "
        f"To go on, {what_to_do(first, pool)}",
        code=first.code,
    )


def smaller(pool: PoolInfo) -> str:
    """The pool came with fewer nodes than asked: the run goes on, and says so."""
    have = pool.current_dedicated + pool.current_spot
    want = pool.target_dedicated + pool.target_spot
    return (
        f"pool {pool.id} is smaller than asked ({have} of {want} nodes): "
        f"{describe(pool.resize_errors)}; the run goes on with {have}"
    )
