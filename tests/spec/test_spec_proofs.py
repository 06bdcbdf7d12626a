"""Checks proven once per template (``spec.proofs``) instead of per task.

Each proof is a sufficient condition: where it holds the per-task check is skipped. The cases
here are ones the proof must refuse (a task does break the rule, and the error is still
reported as before), and the common shapes it must accept (else a 100,000-task plan renders
every task to check it again).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from spec_files import load, one, problems

from batchflow.plan_model import UploadCondition
from batchflow.spec import proofs
from batchflow.spec.checks import MAX_COMMAND
from batchflow.spec.model import OutputSpec, StepSpec, TaskSource, TaskTemplate
from batchflow.spec.proofs import Proof, domains, file_values, prove
from batchflow.spec.steps_expand import StepIndex
from batchflow.spec.templates import compile_template, glob_escape, quote_all, slug


def _matrix(axes: str, task_id: str, outputs: str = "[]", command: str = "echo {index}") -> str:
    return f"""\
        tasks:
          matrix: {axes}
          id: "{task_id}"
          command: "{command}"
          outputs: {outputs}
        """


@pytest.mark.parametrize(
    ("axes", "task_id", "dup"),
    [
        # two slots side by side: "1"+"11" and "11"+"1"
        ("{a: ['1', '11'], b: ['11', '1']}", "x{item.a}{item.b}", "x111"),
        # a value holds the text that follows its slot
        ("{a: [p-q, p], b: [r, q-r]}", "x-{item.a}-{item.b}", "x-p-q-r"),
        # two values the same once slugged
        ("{a: ['a b', a_b], b: [1]}", "x-{item.a}-{item.b}", "x-a_b-1"),
        # two values the same ignoring case
        ("{a: [A, a], b: [1]}", "x-{item.a}-{item.b}", "x-a-1"),
        # an axis missing from the id
        ("{a: [p, q], b: [1, 2]}", "x-{item.a}", "x-p"),
        # an axis that repeats a value
        ("{a: [p, p], b: [1]}", "x-{item.a}-{item.b}", "x-p-1"),
    ],
)
def test_ids_the_proof_cannot_tell_apart_are_still_checked(
    tmp_path: Path, axes: str, task_id: str, dup: str
) -> None:
    found = problems(tmp_path, _matrix(axes, task_id))
    problem = one(found, "tasks.id", "is not unique")
    assert dup.lower() in problem.message.lower()


def test_an_id_with_unsafe_literal_text_is_still_checked(tmp_path: Path) -> None:
    one(problems(tmp_path, _matrix("{a: [p, q]}", "x.{item.a}")), "tasks.id", "is not valid")


@pytest.mark.parametrize(
    ("values", "pattern", "bad"),
    [
        ("['..', ok]", "{item.d}/out.txt", "../out.txt"),
        ("[/abs, ok]", "{item.d}", "/abs"),
        ("['C', ok]", "{item.d}:/x", "C:/x"),
        ("['.', ok]", ".{item.d}", ".."),
        ("['a\\\\..', ok]", "{item.d}\\\\..\\\\..", "a\\..\\..\\.."),
    ],
)
def test_outputs_whose_values_leave_the_working_directory_are_still_checked(
    tmp_path: Path, values: str, pattern: str, bad: str
) -> None:
    body = _matrix("{d: " + values + "}", "t{index}", f'["{pattern}"]')
    found = problems(tmp_path, body)
    problem = one(found, "tasks.outputs[0]", "must stay inside the task's working directory")
    assert "task 't0'" in problem.message


@pytest.mark.parametrize(
    ("values", "output"),
    [
        # a value that is batchflow's folder itself, as the pattern or the destination
        ("[.batchflow, ok]", '"{item.d}/x.txt"'),
        ("[.batchflow, ok]", '{pattern: "x.txt", destination: "{item.d}"}'),
        # an empty value leaves the literal text after it at the start
        ("['', ok]", '"{item.d}.batchflow/x.txt"'),
        # a leading '../' is not part of the stored name
        ("[p, q]", '"../.batchflow/{item.d}.txt"'),
    ],
)
def test_outputs_stored_under_batchflows_folder_are_still_checked(
    tmp_path: Path, values: str, output: str
) -> None:
    found = problems(tmp_path, _matrix("{d: " + values + "}", "t{index}", f"[{output}]"))
    one(found, "tasks.outputs[0]", "keeps for its own records")


def test_a_command_its_values_make_too_long_is_still_checked(tmp_path: Path) -> None:
    long = "y" * (MAX_COMMAND // 2)
    body = _matrix(f"{{a: [short, {long}]}}", "t{index}", command="echo {item.a} {item.a}")
    problem = one(problems(tmp_path, body), "tasks.command", "command line is")
    assert "task 't1'" in problem.message


def test_outputs_of_a_value_that_repeats_across_tasks_still_collide(tmp_path: Path) -> None:
    # one slot, but its values do not differ per task (an axis of a two-axis matrix)
    body = _matrix("{a: [p, q], b: [1, 2]}", "t{index}", '["{item.a}.out"]')
    one(problems(tmp_path, body), "tasks.outputs[0]", "both write the output 'p.out'")


def test_two_single_file_outputs_of_a_task_are_still_checked_against_each_other(
    tmp_path: Path,
) -> None:
    body = _matrix("{a: [p, q]}", "t{index}", '["{task.id}.out", "t1.out"]')
    one(problems(tmp_path, body), "tasks.outputs[1]", "both write the output 't1.out'")


STREAMED = """\
    inputs: [data/*]
    steps:
      up:
        for_each: input
        command: "cp {input.name} {input.name}"
        outputs: ["%s"]
      down:
        for_each: {outputs: up}
        command: "cat {input.name}"
        outputs: ["%s"]
    """


def test_stems_of_upstream_files_with_other_suffixes_still_collide(tmp_path: Path) -> None:
    # up writes a.txt and a.csv: their stems meet in down's outputs
    found = problems(
        tmp_path, STREAMED % ("{input.name}", "{input.stem}.out"), ["data/a.txt", "data/a.csv"]
    )
    one(found, "steps.down.outputs[0]", "both write the output 'down/a.out'")


def test_upstream_names_made_of_dots_still_leave_the_working_directory(tmp_path: Path) -> None:
    # up writes "..0": its stem is ".", and down's ".{input.stem}" is ".."
    found = problems(tmp_path, STREAMED % ("..{index}", ".{input.stem}"), ["data/a.txt"])
    one(found, "steps.down.outputs[0]", "output pattern '..' must stay inside")


def _proof(spec: TaskSource, files: dict[str, proofs.Values] | None = None) -> Proof:
    t = spec.tasks.template
    assert isinstance(t, TaskTemplate)
    count = 1
    for _, axis in spec.tasks.matrix:
        count *= len(axis)
    return prove(t, spec.tasks, domains(spec.tasks, count, files), MAX_COMMAND)


def test_a_sweep_of_safe_values_is_proven_whole(tmp_path: Path) -> None:
    body = _matrix(
        "{seed: [1, 2, 3], size: [s0, s1]}",
        "run-{item.seed}-{item.size}",
        '[{pattern: out.txt, destination: "{task.id}"}, "logs/*.log"]',
        command='/bin/sh -c \\"simulate --seed {item.seed} > {task.id}.txt\\"',
    )
    proof = _proof(load(tmp_path, body))
    assert proof[:4] == (True, True, True, ((True,) * 4, (True,) * 4))


def _output(pattern: str, destination: str = "", when: str = "tasksuccess") -> OutputSpec:
    glob = compile_template(pattern, "glob", lambda n: True)
    raw = compile_template(destination, "raw", lambda n: True)
    return OutputSpec(glob, raw, cast(UploadCondition, when), ())


@pytest.mark.parametrize(
    "outputs",
    [
        [_output("../{d}.txt")],
        [_output("{d}")],
        [_output("x/{d}", "../dest/")],
        [_output("/abs/o", "{d}")],
        [_output("o", "{d}/"), _output("*.log"), _output("e", when="taskfailure")],
        [_output("{d}-{index}")],
        [_output("lit.txt", "dest")],
        [_output("{d}.a", "x"), _output("{index}.b")],
    ],
)
def test_blobs_made_from_the_values_are_the_rendered_outputs_blobs(
    outputs: list[OutputSpec],
) -> None:
    from batchflow.spec.expand import render_task
    from batchflow.spec.steps_expand import produced

    values = [".x", "a..b", "*", "[x]", "é", "-", "a b", "...a", "?", "x]"]
    assert all(map(proofs._path_safe, values))
    known = {"d": proofs.Values(10, True, None, False, True), "index": proofs._index(10)}
    any_id = compile_template("t{index}", "id", lambda n: True)
    t = TaskTemplate(any_id, any_id, (), 0, None, tuple(outputs), (), ())
    make = proofs.producer(t, known)
    expected = []
    for i, value in enumerate(values):
        task = render_task(t, {"d": value, "index": str(i)})
        assert list(make({"d": value, "index": str(i)})) == produced(task), value
        expected.append(tuple(produced(task)))
    columns = {"d": values, "index": [str(i) for i in range(len(values))]}
    assert proofs.produced_all(t, known, columns, len(values)) == expected
    plain = {"d": ["a", "b-c"], "index": ["0", "1"]}  # no value a quoting changes
    assert proofs.produced_all(t, known, plain, 2) == [
        tuple(produced(render_task(t, {"d": d, "index": i}))) for d, i in zip(*plain.values())
    ]


@pytest.mark.parametrize("quote", [slug, glob_escape, str])
@pytest.mark.parametrize("column", [["a", "B-1", "_"], ["a b", "*", "x[1]", "?"], [], [""]])
def test_quoting_a_column_is_quoting_each_value(
    quote: Callable[[str], str], column: list[str]
) -> None:
    assert list(quote_all(quote, column)) == [quote(v) for v in column]


def test_files_named_alike_are_proven_per_task_only_when_they_are() -> None:
    same_suffix = file_values(["up/a-0.txt", "up/a-1.txt"], "up/")
    assert same_suffix["input.stem"].per_task and same_suffix["input.name"].path_safe
    other_suffix = file_values(["up/a.txt", "up/a.csv"], "up/")
    assert other_suffix["input.name"].per_task and not other_suffix["input.stem"].per_task
    for unsafe in (["up/..0"], ["up/a:b"], ["up/a\\b"], ["up/"], ["up/a\0up/b"], ["other/a"]):
        assert not file_values(unsafe, "up/")["input.name"].path_safe, unsafe
    nested = file_values(["up/x/a.txt"], "up/")
    assert nested["input.name"].path_safe and not nested["input.path"].path_safe


BULK = """\
    inputs: ["data/*"]
    steps:
      grid:
        matrix: {a: [p, q, "%s"], b: ["1", "2"], c: [x]}
        id: "{item.a}-{item.b}-{item.c}"
        command: "echo {item.a} > {task.id}.out"
        outputs: ["{task.id}.out"]
      per_file:
        for_each: input
        command: "cat {input.path} > {index}.n"
        outputs: [{pattern: "{index}.n", destination: "d"}, {pattern: "*.err", when: failure}]
      from_grid:
        for_each: {outputs: grid}
        command: "cat {input.name}"
        outputs: ["{input.stem}.s"]
      from_files:
        for_each: {outputs: per_file}
        command: "cat {input.name}"
        outputs: ["{input.name}-{input.suffix}"]
    """


@pytest.mark.parametrize(
    ("a", "bulk"),
    [("short", {"grid", "per_file", "from_grid"}), ("l" * 70, {"per_file", "from_grid"})],
)
def test_an_index_made_a_column_at_a_time_is_the_one_made_task_by_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, a: str, bulk: set[str]
) -> None:
    from batchflow.spec.steps_expand import WorkflowTasks, workflow_tasks

    made_in_bulk: set[str] = set()
    bulk_index = WorkflowTasks.bulk_index

    def spy(self: WorkflowTasks, step: StepSpec, t: TaskTemplate, proof: Proof) -> StepIndex | None:
        made_in_bulk.add(step.name)
        return bulk_index(self, step, t, proof)

    monkeypatch.setattr(WorkflowTasks, "bulk_index", spy)
    files = ["data/a.txt", "data/b.tar.gz", "data/README", "data/-x.txt", "data/c."]
    spec = load(tmp_path, BULK % a, files)  # ids of 70+ characters are cut: per task
    assert spec.workflow is not None and made_in_bulk == bulk
    made = workflow_tasks(spec.workflow, spec.inputs)  # indexed by load_spec's checks
    each = WorkflowTasks(spec.workflow, spec.inputs)  # indexed when asked, task by task
    for step in spec.workflow.steps:
        assert made._index[step.name] is not each.index(step)
        assert made._index[step.name].ids == each.index(step).ids, step.name
        assert made._index[step.name].produced == each.index(step).produced, step.name
