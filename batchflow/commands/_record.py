"""The run record a ``batchflow run`` writes: opened before the first stage, ended however
the run ends (success, failed tasks, an error, Ctrl-C)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from batchflow.engine.protocols import BatchService
from batchflow.engine.recorder import Recorder
from batchflow.engine.records import Outcome, RecordWriter, iso, new_run_id, runs_dir
from batchflow.engine.tasks import all_tasks
from batchflow.errors import BatchflowError, UsageError, WorkflowFailed
from batchflow.plan_model import Plan


def spec_fingerprint(plan: Plan, overrides: Sequence[str]) -> str:
    """sha256 of the spec file's bytes and the ``--set`` overrides: which spec ran."""
    digest = hashlib.sha256(plan.spec_path.read_bytes())
    for o in overrides:
        digest.update(b"\0" + o.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


@dataclass
class Session:
    """One run's record being written."""

    run_id: str
    writer: RecordWriter
    plan: Plan
    cleaned: Sequence[str] = ()
    observer: Recorder | None = None
    # Known once the run ends: its tasks with those of dynamic steps (the start line has the
    # static ones only), and those up to date (not run again).
    total: int | None = None
    up_to_date: int = 0

    def recorder(self, batch: BatchService) -> Recorder:
        """The observer to put between the engine and the display."""
        self.observer = Recorder(self.writer, self.plan, batch, self.plan.keep_logs)
        return self.observer

    def end(self, outcome: Outcome, message: str = "") -> None:
        """The record's last line."""
        ended = iso(_dt.datetime.now(_dt.timezone.utc))
        spent = round(self.observer.spent, 4) if self.observer else 0.0
        self.writer.write(
            "end",
            ended=ended,
            outcome=outcome,
            message=message,
            cleaned=list(self.cleaned),
            **({"total": self.total} if self.total is not None else {}),
            up_to_date=self.up_to_date,
            recorder_s=spent,  # what recording cost the run (bench_report reads it)
        )


def start(plan: Plan, overrides: Sequence[str], target: str) -> Session:
    """Open ``.batchflow/runs/<run id>/`` and write the record's first line."""
    run_id = new_run_id()
    where = runs_dir(plan.spec_path) / run_id
    try:
        writer = RecordWriter(where)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # the error boundary says "disk full" and where
        raise UsageError(f"cannot keep the run's record in {where}: {exc.strerror}") from None
    writer.write(
        "start",
        run=run_id,
        spec=plan.spec_path.name,
        job=plan.job.id,
        pool=plan.pool.id,
        target=target,
        fingerprint=spec_fingerprint(plan, overrides),
        started=iso(_dt.datetime.now(_dt.timezone.utc)),
        total=sum(1 for _ in all_tasks(plan)),
        steps=[s.name for s in plan.steps],
        logs=plan.keep_logs,
    )
    return Session(run_id, writer, plan)


@contextlib.contextmanager
def recording(session: Session) -> Iterator[Session]:
    """End the record with the outcome of the block: an exception that escapes it is an
    error or an interruption (the run's own outcome is ended by the caller)."""
    try:
        yield session
        session.end("succeeded")
    except KeyboardInterrupt:
        session.end("interrupted", "stopped by the user")
        raise
    except WorkflowFailed as exc:
        session.end("failed", str(exc))
        raise
    except BatchflowError as exc:
        session.end("error", str(exc))
        raise
    finally:
        session.writer.close()


@contextlib.contextmanager
def reported(session: Session, wanted: bool) -> Iterator[None]:
    """With ``run --report``: write the HTML report once the record has ended, whatever
    the outcome (a failed run is the one worth looking at)."""
    try:
        yield
    finally:
        if wanted:
            from batchflow.commands.report import write_report
            from batchflow.engine.records import read_record

            write_report(read_record(session.writer.directory), None)
