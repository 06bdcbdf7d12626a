"""The HTML report, loaded in a real headless Chromium: it renders, without errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, batchflow
from tests.e2e.test_seeing import _mixed

sys.path.insert(0, str(REPO / "bench"))
from chromium_load import chromium, load

needs_chromium = pytest.mark.skipif(chromium() is None, reason="chromium is not installed")


@needs_chromium
def test_run_report_renders_in_chromium_without_errors(tmp_path: Path) -> None:
    _mixed(tmp_path)
    res = batchflow("run", "mixed.yaml", "--report", cwd=tmp_path)
    assert res.code == 1 and "Report of run" in res.stderr, res.stderr
    (run_dir,) = (tmp_path / ".batchflow" / "runs").iterdir()
    page = run_dir / "report.html"
    text = page.read_text()
    bare = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in bare and "https://" not in bare  # self-contained: nothing to fetch
    shot = Path(os.environ.get("BATCHFLOW_ARTIFACTS", tmp_path)) / "report.png"
    loaded = load(page, screenshot=shot)
    assert loaded.errors == []
    assert loaded.rendered_ms is not None  # the table's script ran to its end
    assert "4 of 4 tasks" in loaded.dom and "<rect" in loaded.dom
    assert "oops 3" in loaded.dom  # the failure's stderr tail
    assert shot.stat().st_size > 10_000


def test_report_of_a_named_run_to_a_file(tmp_path: Path) -> None:
    _mixed(tmp_path)
    assert batchflow("run", "mixed.yaml", cwd=tmp_path).code == 1
    run_id = batchflow("runs", "mixed.yaml", "--json", cwd=tmp_path).json()[0]["run"]
    res = batchflow("report", "mixed.yaml", run_id[:15], "-o", "r.html", cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "t2" in (tmp_path / "r.html").read_text()
    bad = batchflow("report", "mixed.yaml", "1999", cwd=tmp_path)
    assert bad.code == 2 and "no run" in bad.stderr
