"""Running ``batchflow`` from a given checkout, and comparing checkouts in one run.

The machine these benchmarks run on is shared and noisy: a figure only means something as a
ratio against a baseline measured in the same run, interleaved (A, B, A, B ...), repeated,
with its minimum and median. ``--baseline DIR`` in a benchmark names another checkout (an older
commit, say) to time the same way; its sources are put first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def cli_env(repo: Path = REPO) -> Iterator[dict[str, str]]:
    """The environment to run ``python -m batchflow`` from ``repo`` as an installed package
    runs: its bytecode cached (in a temporary directory, so imports are compiled once, not on
    every start as a ``PYTHONDONTWRITEBYTECODE`` environment would have it), no Azure account
    or batchflow setting of the caller's."""
    with tempfile.TemporaryDirectory() as pycache:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AZURE_", "BATCHFLOW_")) and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["PYTHONPATH"] = str(repo)
        env["PYTHONPYCACHEPREFIX"] = pycache
        yield env


def spread(values: list[float]) -> dict[str, float]:
    """Minimum and median, rounded: what to quote from repeated runs."""
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3)}
