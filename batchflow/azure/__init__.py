"""Adapters over the Azure SDKs (azure-batch 15, azure-storage-blob 12): the only place that
imports ``azure.*``; SDK exceptions are translated into ``batchflow.errors`` here, once."""
