"""Adapters over the Azure SDKs (azure-batch 15, azure-storage-blob 12): the only place that
imports ``azure.*``; SDK exceptions are translated into ``batchflow.errors`` here, once."""

from __future__ import annotations

import logging

# The SDKs log their own retries and deserialization hiccups (with tracebacks) on the
# "azure" loggers; every failure that matters reaches the user once, translated, instead.
logging.getLogger("azure").setLevel(logging.CRITICAL)
