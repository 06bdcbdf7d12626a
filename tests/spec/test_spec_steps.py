"""The `steps` section: the model, the graph checks, and how each step's tasks are wired."""

from __future__ import annotations

from pathlib import Path

from spec_files import load, one, problems

from batchflow.plan import build_plan
from batchflow.spec.checks import MAX_DEPENDS_CHARS
from batchflow.spec.steps_expand import WorkflowTasks

FILES = ["data/a.txt", "data/b.txt", "data/c.txt"]
CHAIN = """\
inputs: [data/*.txt]
steps:
  up:
    for_each: input
    command: /bin/sh -c "tr a-z A-Z < {input.name} > {input.stem}.up"
    outputs: ["{input.stem}.up"]
  count:
    for_each: {outputs: up}
    command: /bin/sh -c "wc -c < {input.name} > {input.name}.n"
    outputs: ["{input.name}.n"]
  total:
    inputs: {from: count}
    command: /bin/sh -c "cat count/*.n > total.txt"
    outputs: [total.txt]
"""


def test_a_chain_streams_and_a_gather_waits_for_all(tmp_path: Path) -> None:
    spec = load(tmp_path, CHAIN, FILES)
    assert spec.workflow is not None
    assert [s.name for s in spec.workflow.steps] == ["up", "count", "total"]
    plan = build_plan(spec)
    tasks = {t.id: t for t in plan.tasks}
    assert list(tasks) == ["up-0", "up-1", "up-2", "count-0", "count-1", "count-2", "total"]
    # count-i depends on up-i only, and gets up-i's file from the output container
    assert tasks["count-1"].depends_on == ("up-1",)
    (file,) = tasks["count-1"].inputs
    assert (file.blob, file.path, file.source) == ("up/b.up", "b.up", "output")
    assert tasks["count-1"].command == '/bin/sh -c "wc -c < b.up > b.up.n"'
    assert tasks["up-0"].outputs[0].destination == "up"
    assert tasks["total"].depends_on == ("count-0", "count-1", "count-2")
    (gathered,) = tasks["total"].inputs
    assert (gathered.blob, gathered.prefix) == ("count/", True)
    assert [(s.name, s.task_count, s.download) for s in plan.steps] == [
        ("up", 3, False),
        ("count", 3, False),
        ("total", 1, True),
    ]
    assert plan.download_prefixes == ("total/",) and len(plan.tasks) == 7


def test_steps_are_ordered_by_what_they_wait_for_and_needs_carries_no_data(
    tmp_path: Path,
) -> None:
    spec = load(
        tmp_path,
        """\
        steps:
          last: {needs: [left, right], command: "true"}
          left: {command: "true", outputs: [l.txt]}
          right: {needs: [left], matrix: {n: [1, 2]}, command: "echo {item.n}"}
        """,
    )
    assert spec.workflow is not None
    assert [s.name for s in spec.workflow.steps] == ["left", "right", "last"]
    tasks = {t.id: t for t in build_plan(spec).tasks}
    assert tasks["right-1"].depends_on == ("left",)
    assert tasks["last"].depends_on == ("left", "right-0", "right-1") and not tasks["last"].inputs


def test_a_gather_with_a_pattern_gets_only_matching_files(tmp_path: Path) -> None:
    body = CHAIN.replace("inputs: {from: count}", "inputs: {from: [up, count], pattern: 'a.*'}")
    tasks = {t.id: t for t in build_plan(load(tmp_path, body, FILES)).tasks}
    assert [(f.blob, f.path) for f in tasks["total"].inputs] == [
        ("up/a.up", "up/a.up"),
        ("count/a.up.n", "count/a.up.n"),
    ]


def test_a_long_dependency_list_goes_through_wait_tasks(tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(10_000))
    spec = load(
        tmp_path,
        "steps:\n"
        f'  map: {{matrix: {{n: [{values}]}}, id: "a-long-task-id-{{item.n}}", command: "true"}}\n'
        '  merge: {needs: [map], command: "true"}\n',
    )
    assert spec.workflow is not None
    tasks = WorkflowTasks(spec.workflow, spec.inputs)
    merge = spec.workflow.step("merge")
    waits = tasks.waits(merge)
    assert len(waits) >= 2
    assert all(sum(len(i) + 1 for i in w.depends_on) <= MAX_DEPENDS_CHARS for w in waits)
    assert sum(len(w.depends_on) for w in waits) == 10_000
    (merge_task,) = tasks.tasks(merge)
    assert merge_task.depends_on == tuple(w.id for w in waits)
    assert len(tasks) == 10_001 + len(waits)


def test_graph_problems_are_all_reported_and_located(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        steps:
          a: {needs: [c], command: "true"}
          b: {for_each: {outputs: a}, command: "cat {input.name}"}
          c: {needs: [a, aa], inputs: {from: cuont}, command: "echo {inptu.name}"}
          d: {for_each: {outputs: e}, command: "x {input.name}"}
          e: {command: "split x part-", outputs: ["part-*"]}
        """,
    )
    one(found, "steps.b.for_each.outputs", "step 'a' declares no outputs")
    one(found, "steps.c.inputs.from", "no step is named 'cuont' (steps: a, b, c, d, e)")
    one(found, "steps.c.needs[1]", "no step is named 'aa'; did you mean 'a'?")
    one(found, "steps.c.command", "unknown placeholder {inptu.name}")
    one(found, "steps.a", "steps wait for each other: a -> c -> a")
    # d fans out over e's files, known once e ran: dynamic, no longer a problem
    assert not [p for p in found if p.path.startswith(("steps.d", "steps.e"))], found


def test_steps_and_tasks_together_and_bad_step_names_are_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        tasks: {list: [{id: x, command: "true"}]}
        steps:
          B: {command: "true"}
          b: {needs: [B]}
        """,
    )
    one(found, "tasks", "give either tasks or steps, not both")
    one(found, "steps.b", "missing required key 'command'")
    one(found, "steps.B", "differ only in case")
    found = problems(tmp_path, "steps: {make-thumbs: {command: 'true'}}")
    one(found, "steps.make-thumbs", "is not a valid step name")
    # why, and what to write instead
    one(found, "steps.make-thumbs", "'-' separates the step from the rest of each task id")
    one(found, "steps.make-thumbs", "use 'make_thumbs'")


def test_ids_within_a_step_are_checked_as_for_tasks(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        inputs: [data/*.txt]
        steps:
          a: {for_each: input, id: same, command: "cat {input.name}"}
          b: {for_each: input, command: "cat {input.name}", outputs: [out.txt]}
        """,
        FILES,
    )
    one(found, "steps.a.id", "is not unique")
    one(found, "steps.b.outputs[0]", "both write the output 'b/out.txt'")


def test_plan_json_has_per_step_records_and_output_inputs(tmp_path: Path) -> None:
    import io
    import json

    from batchflow.commands.plan import write_json

    out = io.StringIO()
    write_json(build_plan(load(tmp_path, CHAIN, FILES)), out)
    doc = json.loads(out.getvalue())
    assert [(s["name"], s["task_count"], s["download"]) for s in doc["steps"]] == [
        ("up", 3, False),
        ("count", 3, False),
        ("total", 1, True),
    ]
    assert doc["steps"][1]["for_each_outputs_of"] == "up"
    total = doc["tasks"][-1]
    gathered = {"blob": "count/", "path": "", "container": "output", "prefix": True}
    assert total["inputs"] == [gathered]


DYNAMIC = """\
inputs: [data/*.txt]
steps:
  split:
    for_each: input
    command: split -l 2 {input.name} chunk-{input.stem}-
    outputs: ["chunk-{input.stem}-*", {pattern: "{input.stem}.err", when: failure}]
  count:
    for_each: {outputs: split}
    command: /bin/sh -c "wc -l < {input.name} > {input.name}.n"
    outputs: ["{input.name}.n"]
  again:
    for_each: {outputs: count}
    command: cat {input.name}
  total:
    inputs: {from: count}
    command: /bin/sh -c "cat count/*.n > total.txt"
    outputs: [total.txt]
  side: {command: "true"}
"""


def test_a_fan_out_over_wildcard_outputs_is_dynamic_and_its_source_files_by_task(
    tmp_path: Path,
) -> None:
    spec = load(tmp_path, DYNAMIC, FILES)
    plan = build_plan(spec)
    assert [(s.name, s.task_count, s.dynamic) for s in plan.steps] == [
        ("split", 3, False),
        ("count", 0, True),
        ("again", 0, True),
        ("total", 0, True),
        ("side", 1, False),
    ]
    # only the static tasks are planned; the engine adds the others as split's tasks end
    assert [t.id for t in plan.tasks] == ["split-0", "split-1", "split-2", "side"]
    split1 = next(t for t in plan.tasks if t.id == "split-1")
    # which task made a file is told by its blob name; failure-only outputs stay put
    assert [(o.pattern, o.destination) for o in split1.outputs] == [
        ("chunk-b-*", "split/split-1"),
        ("b.err", "split"),
    ]


def test_a_step_that_declares_no_outputs_is_not_said_to_be_downloaded(tmp_path: Path) -> None:
    """``setup`` only orders (``needs``): the plan's tree said "(downloaded)" beside it."""
    from batchflow.commands.plan_steps import steps_tree

    spec = load(
        tmp_path,
        """\
        steps:
          setup: {command: "true"}
          work: {needs: [setup], command: "touch a.txt", outputs: [a.txt]}
        """,
        FILES,
    )
    steps = build_plan(spec).steps
    assert [(s.name, s.download) for s in steps] == [("setup", False), ("work", True)]
    shown = str(steps_tree(steps).children[0].label)
    assert shown == "setup  1 task", shown


def test_the_plan_tree_shows_a_gathers_pattern(tmp_path: Path) -> None:
    """``firsts`` gathers only ``a-*`` of ``up``: the tree said "gathers up", as if all."""
    from batchflow.commands.plan_steps import steps_tree

    spec = load(
        tmp_path,
        """\
        inputs: [data/*.txt]
        steps:
          up: {for_each: input, command: "cp {input.name} a-{input.name}", outputs: ["a-*"]}
          firsts: {inputs: {from: up, pattern: "a-*"}, command: "true", outputs: [f.txt]}
        """,
        FILES,
    )
    tree = steps_tree(build_plan(spec).steps)
    shown = str(tree.children[0].children[0].label)
    assert shown == "firsts  dynamic  (gathers up, files a-*; downloaded)", shown
