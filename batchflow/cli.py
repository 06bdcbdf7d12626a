"""Command-line parsing only: each command imports its implementation lazily and returns an
exit code. Printing of errors and the choice of exit codes live in ``error_handler``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import click

from batchflow import __version__
from batchflow.error_handler import error_handler

SPEC = click.Path(dir_okay=True, path_type=str)
JSON_FLAG = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
SET_FLAG = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec param."
)


def _run(fn: Callable[[], int]) -> None:
    with error_handler():
        code = fn()
    sys.exit(code)


class _Group(click.Group):
    """Usage errors exit 2 (click's own convention), everything else through the boundary."""


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batchflow")
def cli() -> None:
    """Run a pile of independent jobs on Azure Batch, or locally, from one YAML spec."""


@cli.command()
@click.argument("specs", nargs=-1, required=True, type=SPEC)
@SET_FLAG
@JSON_FLAG
def validate(specs: Sequence[str], overrides: Sequence[str], as_json: bool) -> None:
    """Check SPECs: schema, ids, templates, files. Exit 0 if all valid, 2 if not."""
    from batchflow.commands.validate import validate_cmd

    _run(lambda: validate_cmd(specs, overrides, as_json))


@cli.command()
@click.argument("spec", type=SPEC)
@SET_FLAG
@JSON_FLAG
def plan(spec: str, overrides: Sequence[str], as_json: bool) -> None:
    """Show what a run would create, upload and add. Touches nothing."""
    from batchflow.commands.plan import plan_cmd

    _run(lambda: plan_cmd(spec, overrides, as_json))


@cli.command()
def schema() -> None:
    """Print the spec's JSON Schema."""
    from batchflow.commands.schema import schema_cmd

    _run(schema_cmd)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="batchflow")
