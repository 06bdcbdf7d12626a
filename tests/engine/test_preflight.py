"""The checks ``plan`` and ``run`` make against the target's images and VM sizes, on the
emulator's shipped lists (what the local target answers)."""

from __future__ import annotations

from batchflow.commands._preflight import local_images, local_sizes
from batchflow.engine.preflight import image_problem, vm_size_problem
from batchflow.plan_model import ImageRef
from batchflow.spec.images import ALIASES


def test_every_alias_is_a_supported_image() -> None:
    images = local_images()
    for name, ref in ALIASES.items():
        assert image_problem(ref, images) is None, name


def test_case_does_not_matter_and_the_agent_must_match() -> None:
    images = local_images()
    jammy = ImageRef(
        "Canonical",
        "0001-com-ubuntu-server-JAMMY",
        "22_04-LTS",
        "latest",
        "Batch.Node.Ubuntu 22.04",
    )
    assert image_problem(jammy, images) is None
    wrong = ImageRef(
        "canonical", "0001-com-ubuntu-server-jammy", "22_04-lts", "latest", "batch.node.el 9"
    )
    problem = image_problem(wrong, images) or ""
    assert "runs with node agent batch.node.ubuntu 22.04, not batch.node.el 9" in problem


def test_an_unknown_image_names_the_closest_ones() -> None:
    windows = ImageRef(
        "microsoftwindowsserver",
        "windowsserver",
        "2022-datacenter-g2",
        "latest",
        "batch.node.windows amd64",
    )
    problem = image_problem(windows, local_images()) or ""
    assert "closest: microsoftwindowsserver/windowsserver/2022-datacenter" in problem, problem


def test_vm_sizes_where_the_target_has_a_catalog() -> None:
    sizes = local_sizes()
    assert vm_size_problem("Standard_D2s_v3", sizes) is None
    assert "standard_d2s_v3" in (vm_size_problem("standard_d2s_v9", sizes) or "")
    assert vm_size_problem("anything", None) is None  # Azure: no catalog, the service decides
    assert image_problem(ALIASES["ubuntu-22.04"], []) is None  # nothing listed: not checked
