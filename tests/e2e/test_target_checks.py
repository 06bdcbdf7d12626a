"""``plan`` and ``run`` check the spec's image, node agent and VM size against the target
before anything is created: a mismatch is a spec problem (exit 2) at the spec's line, naming
the closest supported images, and nothing is uploaded nor any pool created."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import batchflow, examples  # noqa: F401 (a fixture)

JAMMY_ON_24 = """\
  image:
    publisher: canonical
    offer: 0001-com-ubuntu-server-jammy
    sku: 22_04-lts
    node_agent_sku: batch.node.ubuntu 24.04
"""
NO_SUCH_IMAGE = """\
  image:
    publisher: canonical
    offer: ubuntu-24_04-lts
    sku: servr
    node_agent_sku: batch.node.ubuntu 24.04
"""


def _image(examples: Path, block: str) -> None:  # noqa: F811
    spec = examples / "quickstart.yaml"
    spec.write_text(spec.read_text().replace("  image: ubuntu-22.04\n", block))


def _nothing_created(examples: Path, out: str) -> None:  # noqa: F811
    assert "created pool" not in out and "Uploading" not in out, out
    assert not (examples / ".batchflow" / "blobs").exists()


def test_run_refuses_an_image_with_another_agent_before_uploading(
    examples: Path,  # noqa: F811
) -> None:
    _image(examples, JAMMY_ON_24)
    res = batchflow("run", "quickstart.yaml", cwd=examples)
    assert res.code == 2, res.stderr
    line = next(x for x in res.stderr.splitlines() if "pool.image" in x)
    assert line.startswith("quickstart.yaml:10:"), line
    assert "runs with node agent batch.node.ubuntu 22.04, not batch.node.ubuntu 24.04" in line
    assert "Traceback" not in res.stderr
    _nothing_created(examples, res.stdout + res.stderr)


def test_plan_and_run_name_the_closest_supported_images(examples: Path) -> None:  # noqa: F811
    _image(examples, NO_SUCH_IMAGE)
    for command in ("plan", "run"):
        res = batchflow(command, "quickstart.yaml", cwd=examples)
        assert res.code == 2, (command, res.stderr)
        line = next(x for x in res.stderr.splitlines() if "pool.image" in x)
        assert "is not among the target's" in line, line
        assert "closest: canonical/ubuntu-24_04-lts/server (batch.node.ubuntu 24.04)" in line
    _nothing_created(examples, res.stdout + res.stderr)


def test_an_unknown_vm_size_is_a_spec_problem_at_its_line(examples: Path) -> None:  # noqa: F811
    spec = examples / "quickstart.yaml"
    spec.write_text(spec.read_text().replace("standard_a1_v2", "standard_a1_v9"))
    for command in ("plan", "run"):
        res = batchflow(command, "quickstart.yaml", cwd=examples)
        assert res.code == 2, (command, res.stderr)
        line = next(x for x in res.stderr.splitlines() if "pool.vm_size" in x)
        assert line.startswith("quickstart.yaml:8:"), line
        assert "standard_a1_v9 is not available" in line and "standard_a1_v2" in line, line
    _nothing_created(examples, res.stdout + res.stderr)


def test_the_supported_aliases_pass(examples: Path) -> None:  # noqa: F811
    spec = examples / "quickstart.yaml"
    original = spec.read_text()
    for alias in ("ubuntu-22.04", "ubuntu-24.04", "debian-12"):
        spec.write_text(original.replace("image: ubuntu-22.04", f"image: {alias}"))
        res = batchflow("plan", "quickstart.yaml", cwd=examples)
        assert res.code == 0, (alias, res.stderr)
