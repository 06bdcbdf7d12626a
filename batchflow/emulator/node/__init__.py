"""Local compute nodes: pools' allocation, the scheduler, task attempts, processes and files.
Acts on the ``state``; never imports ``http``."""
