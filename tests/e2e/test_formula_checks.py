"""``validate`` and ``plan`` evaluate a spec's autoscale formula once with the emulator's
evaluator, before anything is created: an error is a spec problem (exit 2) at the formula's
line and column in the spec file, naming the line inside the formula."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import batchflow, write_spec

SPEC = """\
version: 1
name: auto
pool:
  vm_size: standard_a1_v2
  image: ubuntu-22.04
  autoscale:
    interval: 5m
    formula: |
      $tasks = max(0, $PendingTasks.GetSample(1));
      {line2}
inputs:
  - "*.txt"
tasks:
  for_each: input
  id: "t{{index}}"
  command: cat {{input.name}}
"""


def _spec(tmp_path: Path, line2: str) -> Path:
    (tmp_path / "a.txt").write_text("a\n")
    return write_spec(tmp_path, "auto", SPEC.format(line2=line2))


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_syntax_error_is_located_at_its_spec_line(tmp_path: Path, command: str) -> None:
    _spec(tmp_path, "$TargetDedicatedNodes = min(4, $tasks;")
    res = batchflow(command, "auto.yaml", cwd=tmp_path)
    assert res.code == 2, res.stderr
    line = next(x for x in res.stderr.splitlines() if "pool.autoscale.formula" in x)
    # Formula line 2, column 38 (the ';'): spec line 10, indented 6.
    assert line.startswith("auto.yaml:10:44: pool.autoscale.formula: "), line
    assert "AutoScalingFormulaSyntaxError at line 2, column 38 of the formula" in line, line
    assert "Traceback" not in res.stderr


def test_an_evaluation_error_is_found_by_evaluating_once(tmp_path: Path) -> None:
    _spec(tmp_path, "$TargetDedicatedNodes = val($PendingTasks.GetSample(1), 7);")
    res = batchflow("validate", "auto.yaml", cwd=tmp_path)
    assert res.code == 2, res.stderr
    line = next(x for x in res.stderr.splitlines() if "pool.autoscale.formula" in x)
    assert line.startswith("auto.yaml:10:31: "), line
    assert "AutoScaleFormulaEvaluationError at line 2, column 25" in line, line
    assert "index 7 is outside a vector of 1 elements" in line, line


def test_a_good_formula_and_too_few_samples_pass(tmp_path: Path) -> None:
    # A new pool has one sample: wanting 90% of ten minutes' is the history's fault, and the
    # service's later evaluations have them.
    _spec(
        tmp_path,
        "$TargetDedicatedNodes = min(4, avg($PendingTasks.GetSample(TimeInterval_Minute*10, 90)));",
    )
    assert batchflow("validate", "auto.yaml", cwd=tmp_path).code == 0
    _spec(tmp_path, "$TargetDedicatedNodes = min(4, $tasks);")
    res = batchflow("plan", "auto.yaml", cwd=tmp_path)
    assert res.code == 0, res.stderr
