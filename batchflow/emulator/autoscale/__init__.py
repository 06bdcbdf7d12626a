"""The Batch autoscale formula language, pure: no HTTP, no pool state, no clock of its own.

    formula = compile_formula(text)              # FormulaError: code, message, position
    run = formula.evaluate(env, now)             # AutoscaleRun: results, error, targets
    run.to_wire()                                # the REST autoScaleRun object

Modules: ``lexer`` -> ``parser`` (``syntax`` tree) -> ``evaluate`` (type-checks, builds
closures) using ``operators``, ``functions``, ``methods``, ``names``; ``samples`` holds the
metric history; ``formula`` is the entry point.
"""

from batchflow.emulator.autoscale.environment import AutoscaleEnvironment
from batchflow.emulator.autoscale.errors import AutoscaleRunError, FormulaError, Position
from batchflow.emulator.autoscale.formula import (
    MAX_FORMULA_LENGTH,
    AutoscaleRun,
    AutoscaleTargets,
    Formula,
    compile_formula,
)
from batchflow.emulator.autoscale.samples import Metric, SampleSeries, SampleStore
from batchflow.emulator.autoscale.values import DeallocationOption

__all__ = [
    "MAX_FORMULA_LENGTH",
    "AutoscaleEnvironment",
    "AutoscaleRun",
    "AutoscaleRunError",
    "AutoscaleTargets",
    "DeallocationOption",
    "Formula",
    "FormulaError",
    "Metric",
    "Position",
    "SampleSeries",
    "SampleStore",
    "compile_formula",
]
