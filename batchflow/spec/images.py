"""Short names for the Marketplace images Batch pools usually run."""

from __future__ import annotations

from batchflow.plan_model import ImageRef

ALIASES: dict[str, ImageRef] = {
    "ubuntu-22.04": ImageRef(
        "canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts",
        "latest",
        "batch.node.ubuntu 22.04",
    ),
    "ubuntu-24.04": ImageRef(
        "canonical", "ubuntu-24_04-lts", "server", "latest", "batch.node.ubuntu 24.04"
    ),
    "debian-12": ImageRef("debian", "debian-12", "12", "latest", "batch.node.debian 12"),
}
