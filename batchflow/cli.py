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


TARGET_FLAG = click.option(
    "--target",
    type=click.Choice(["local", "azure"]),
    default=None,
    help="Where to run (default: azure when AZURE_BATCH_* is set, else local).",
)
STORAGE_FLAG = click.option(
    "--storage",
    type=click.Choice(["local", "azurite"]),
    default=None,
    help="Local target's blob storage: a directory beside the spec, or Azurite.",
)


@cli.command()
@click.argument("spec", type=SPEC)
@TARGET_FLAG
@STORAGE_FLAG
@SET_FLAG
@JSON_FLAG
@click.option("--keep", is_flag=True, help="Skip the spec's cleanup (keep job, pool, inputs).")
@click.option("--report", is_flag=True, help="Write the run's HTML report when it ends.")
@click.option(
    "--events",
    is_flag=True,
    help="Progress as NDJSON events on stdout (the summary last); human progress on stderr.",
)
def run(
    spec: str,
    target: str | None,
    storage: str | None,
    overrides: Sequence[str],
    as_json: bool,
    keep: bool,
    report: bool,
    events: bool,
) -> None:
    """Run SPEC: upload inputs, create pool and job, add tasks, watch, collect, clean up."""
    from batchflow.commands.run import run_cmd

    _run(lambda: run_cmd(spec, overrides, target, storage, as_json, keep, report, events))


@cli.command()
@click.argument("spec", type=SPEC)
@TARGET_FLAG
@STORAGE_FLAG
@SET_FLAG
@JSON_FLAG
@click.option("--tasks", "tasks", is_flag=True, help="One line per task: state, node, duration.")
@click.option(
    "--state",
    type=click.Choice(["active", "running", "completed", "succeeded", "failed"]),
    default=None,
    help="With --tasks: only the tasks in this state.",
)
def status(
    spec: str,
    target: str | None,
    storage: str | None,
    overrides: Sequence[str],
    as_json: bool,
    tasks: bool,
    state: str | None,
) -> None:
    """Show SPEC's pool, job, task counts, failed tasks and last recorded run."""
    from batchflow.commands.status import status_cmd

    _run(lambda: status_cmd(spec, overrides, as_json, target, storage, tasks or bool(state), state))


@cli.command()
@click.argument("spec", type=SPEC)
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("-o", "--output", default=None, help="Where to write (default: in the run's dir).")
def report(spec: str, run_id: str | None, output: str | None) -> None:
    """Write one HTML page about a run of SPEC (the newest, or RUN): timeline, tasks, failures."""
    from batchflow.commands.report import report_cmd

    _run(lambda: report_cmd(spec, run_id, output))


@cli.command()
@click.argument("spec", type=SPEC)
@JSON_FLAG
def runs(spec: str, as_json: bool) -> None:
    """List SPEC's recorded runs (.batchflow/runs/), newest first."""
    from batchflow.commands.runs import runs_cmd

    _run(lambda: runs_cmd(spec, as_json))


@cli.command()
@click.argument("spec", type=SPEC)
@click.argument("task")
@click.option("--stderr", is_flag=True, help="Print stderr.txt instead of stdout.txt.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the task completes.")
@TARGET_FLAG
@STORAGE_FLAG
@SET_FLAG
def logs(
    spec: str,
    task: str,
    stderr: bool,
    follow: bool,
    target: str | None,
    storage: str | None,
    overrides: Sequence[str],
) -> None:
    """Print TASK's standard output (or error) from SPEC's job, or from the run record."""
    from batchflow.commands.logs import logs_cmd

    _run(lambda: logs_cmd(spec, task, stderr, overrides, target, storage, follow))


@cli.command()
@click.argument("spec", type=SPEC)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@TARGET_FLAG
@STORAGE_FLAG
@SET_FLAG
def down(
    spec: str, yes: bool, target: str | None, storage: str | None, overrides: Sequence[str]
) -> None:
    """Delete what SPEC created: job, pool, containers and local state."""
    from batchflow.commands.down import down_cmd

    _run(lambda: down_cmd(spec, overrides, yes, target, storage))


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (anything but loopback is reachable from the network).",
)
@click.option(
    "--port",
    default=8250,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--data",
    default="./.batchflow-emulator",
    show_default=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Directory holding the emulator's state (kept across restarts).",
)
@click.option("--account", default=None, help="Account name (default: the dev account).")
@click.option(
    "--key",
    default=None,
    help="Account key, base64 (default: $BATCHFLOW_EMULATOR_KEY, else the public dev key).",
)
@click.option(
    "--nodes-max",
    default=None,
    type=click.IntRange(1, None),
    help="Most local nodes a pool may run (default: the CPU count).",
)
@click.option("--access-log", is_flag=True, help="Log every request on stderr.")
@click.option(
    "--account-profile",
    default="default",
    show_default=True,
    type=click.Choice(["default", "new-account"]),
    help="Core quotas to start with: generous, or a new account's (no cores at all).",
)
@click.option(
    "--dedicated-cores-quota",
    multiple=True,
    metavar="FAMILY=N",
    help="Dedicated core quota of a VM family, e.g. standardDSv3Family=8 (repeatable).",
)
@click.option(
    "--low-priority-cores-quota",
    default=None,
    type=click.IntRange(0, None),
    help="Spot (low-priority) core quota of the account.",
)
@click.option(
    "--active-jobs-quota",
    default=None,
    type=click.IntRange(0, None),
    help="Jobs and job schedules not completed the account may have (Azure: 100-300).",
)
@click.option(
    "--application",
    "applications",
    multiple=True,
    metavar="ID[=VERSION,...]",
    help="An application of the account, as Application_List shows it (repeatable).",
)
def emulator(
    host: str,
    port: int,
    data: str,
    account: str | None,
    key: str | None,
    nodes_max: int | None,
    access_log: bool,
    account_profile: str,
    dedicated_cores_quota: tuple[str, ...],
    low_priority_cores_quota: int | None,
    active_jobs_quota: int | None,
    applications: tuple[str, ...],
) -> None:
    """Serve the Azure Batch emulator until Ctrl-C (like Azurite for Storage)."""
    from batchflow.commands.emulator import applications_from_flags, emulator_cmd, quotas_from_flags

    _run(
        lambda: emulator_cmd(
            host,
            port,
            data,
            account,
            key,
            nodes_max,
            access_log,
            quotas_from_flags(
                account_profile, dedicated_cores_quota, low_priority_cores_quota, active_jobs_quota
            ),
            applications_from_flags(applications),
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="batchflow")
