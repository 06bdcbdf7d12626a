"""Load a page in headless Chromium (Debian's ``chromium``): its DOM after load, the page's
own render time (``data-rendered-ms``, set by the report's script when its table is built),
errors caught by its ``window.onerror`` and console errors Chromium logs, and the wall time
of the whole load. Used by tests/e2e/test_report.py and bench/bench_report.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)


@dataclass
class Loaded:
    dom: str
    rendered_ms: int | None
    errors: list[str]
    wall_s: float


def chromium() -> str | None:
    """The Chromium binary, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def load(page: Path, screenshot: Path | None = None, timeout: float = 120) -> Loaded:
    """Load ``page`` (``--dump-dom``), and take a screenshot of it when asked."""
    binary = chromium()
    assert binary, "chromium is not installed"
    with tempfile.TemporaryDirectory() as profile:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        wall = time.perf_counter() - t0
        if screenshot is not None:
            subprocess.run(
                [
                    binary,
                    *FLAGS,
                    f"--user-data-dir={profile}",
                    "--window-size=1200,1100",
                    f"--screenshot={screenshot}",
                    page.as_uri(),
                ],
                capture_output=True,
                timeout=timeout,
            )
    body = re.search(r"<body[^>]*>", proc.stdout)
    tag = body.group(0) if body else ""
    rendered = re.search(r'data-rendered-ms="(\d+)"', tag)
    caught = re.search(r'data-errors="([^"]*)"', tag)
    errors = [caught.group(1)] if caught else []
    errors += [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and "rror" in ln]
    return Loaded(proc.stdout, int(rendered.group(1)) if rendered else None, errors, wall)
