"""batchflow: run a pile of independent jobs on Azure Batch from one YAML spec."""

from __future__ import annotations

__version__ = "0.1.0"
