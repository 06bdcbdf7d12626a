"""What the engine tells the user about each of the service's resize error codes."""

from __future__ import annotations

import pytest

from batchflow.engine.protocols import PoolInfo, ResizeError
from batchflow.engine.resize import no_node, smaller


def _pool(*errors: ResizeError, current: int = 0) -> PoolInfo:
    return PoolInfo(
        id="p",
        state="active",
        allocation_state="steady",
        vm_size="standard_d2s_v3",
        image=("canonical", "ubuntu", "22_04-lts", "latest", "batch.node.ubuntu 22.04"),
        slots_per_node=1,
        target_dedicated=3,
        target_spot=0,
        current_dedicated=current,
        resize_errors=errors,
    )


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("AccountVMSeriesCoreQuotaReached", "request more dedicated cores for standardDSv3Family"),
        ("AccountCoreQuotaReached", "choose a vm_size of a family with quota"),
        ("AccountLowPriorityCoreQuotaReached", "use dedicated nodes instead of spot"),
        ("AccountSpotCoreQuotaReached", "use dedicated nodes instead of spot"),
        ("AllocationFailed", "could not allocate standard_d2s_v3 nodes now"),
        ("AllocationTimedout", "choose another vm_size or region"),
        ("SomethingNew", "resize errors in the Azure portal"),
    ],
)
def test_each_code_says_what_to_do(code: str, advice: str) -> None:
    error = ResizeError(code, "The service said so.", (("VmFamily", "standardDSv3Family"),))
    failure = no_node(_pool(error))
    text = str(failure)
    assert failure.exit_code == 3 and failure.code == code
    assert f"pool p got no node: {code}: The service said so." in text
    assert advice in text and "\n" not in text


def test_without_a_family_the_advice_names_the_size() -> None:
    text = str(no_node(_pool(ResizeError("AccountCoreQuotaReached", "Reached."))))
    assert "the VM family of standard_d2s_v3" in text


def test_a_smaller_pool_says_how_many_of_how_many() -> None:
    line = smaller(_pool(ResizeError("AccountCoreQuotaReached", "Reached."), current=1))
    assert "smaller than asked (1 of 3 nodes)" in line and "goes on with 1" in line
