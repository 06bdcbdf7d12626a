"""How long an in-process ``EmulatorServer`` takes to start and to stop (the local target and
the tests start one per command and per test), and that a stop leaves no thread behind.

Each round starts a server on a fresh data directory, makes one request (so a keep-alive
connection is open, as after real use), then stops it. Stock uvicorn spends ~0.2 s per stop
in two 0.1 s sleeps; ``PromptServer`` wakes them at once.
Usage: python bench/bench_startstop.py [ROUNDS]. Prints one JSON object (medians).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from batchflow.emulator.server import EmulatorServer  # noqa: E402


def _round(data: Path) -> tuple[float, float]:
    server = EmulatorServer(data_dir=data, nodes_max=1)
    begin = time.perf_counter()
    server.start()
    started = time.perf_counter()
    server.control.counters()
    stopping = time.perf_counter()
    server.stop()
    return started - begin, time.perf_counter() - stopping


def main(rounds: int) -> dict[str, float | int]:
    """Medians over ``rounds`` start/stop cycles, and threads left alive afterwards."""
    before = threading.active_count()
    with tempfile.TemporaryDirectory() as tmp:
        times = [_round(Path(tmp) / str(i)) for i in range(rounds)]
    return {
        "rounds": rounds,
        "start_median_s": round(statistics.median(t[0] for t in times), 4),
        "stop_median_s": round(statistics.median(t[1] for t in times), 4),
        "stop_max_s": round(max(t[1] for t in times), 4),
        "threads_left": threading.active_count() - before,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)))
