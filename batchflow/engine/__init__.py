"""The engine: stages that act on a Plan through ``protocols.BatchService`` and
``protocols.BlobStore``, reporting progress ``events``; ``run.run_plan`` chains them."""
