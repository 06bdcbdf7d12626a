"""Semantic checks: ids after templating, files, placeholders, outputs, params and env."""

from __future__ import annotations

from pathlib import Path

from spec_files import load, one, problems

from batchflow.spec.checks import MAX_COMMAND, PER_KIND
from batchflow.spec.expand import RenderedTasks

MEDIA = ["media/a.mp4", "media/b.mp4"]


def test_the_model_holds_no_dicts_and_defaults_are_derived(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        inputs: [media/*.mp4]
        tasks: {for_each: input, command: "cat {input.name}"}
        """,
        MEDIA,
    )
    assert spec.pool.id == "demo-pool" and spec.job_id == "demo-job"
    assert (spec.input_container, spec.output_container) == ("demo-input", "demo-output")
    assert [f.blob for f in spec.inputs] == MEDIA
    assert spec.inputs[0].local == tmp_path / "media" / "a.mp4"
    assert [t.id for t in RenderedTasks(spec)] == ["task0", "task1"]
    assert spec.cleanup.job and not spec.cleanup.pool and not spec.cleanup.inputs


def test_ids_that_collide_after_templating_are_named(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        inputs: ["media/*"]
        tasks: {for_each: input, id: "conv-{input.stem}", command: "cat {input.name}"}
        """,
        ["media/A b.mp4", "media/a_b.wav", "media/x.mp4"],
    )
    problem = one(found, "tasks.id", "task id 'conv-a_b' (task #1) is not unique: task #0 has")
    assert problem.line == 5


def test_literal_ids_must_follow_batch_rules(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        tasks:
          list:
            - {id: "has space", command: x}
            - {id: ok, command: x}
            - {id: OK, command: x}
            - {id: "%s", command: x}
        """
        % ("y" * 65),
    )
    one(found, "tasks.list[0].id", "task id 'has space' is not valid")
    one(
        found,
        "tasks.list[2].id",
        "task id 'OK' (task #2) is not unique: task #1 has the same id (ignoring case)",
    )
    one(found, "tasks.list[3].id", "is not valid (letters, digits, - and _, 1 to 64")


def test_templated_ids_from_hostile_names_are_valid_and_bounded(tmp_path: Path) -> None:
    names = ["media/a b;rm -rf ~.mp4", "media/$(reboot).mp4", "media/" + "é" * 80 + ".mp4"]
    spec = load(
        tmp_path,
        """\
        inputs: ["media/*.mp4"]
        tasks: {for_each: input, id: "c-{input.stem}", command: "cat {input.name}"}
        """,
        names,
    )
    ids = [t.id for t in RenderedTasks(spec)]
    assert ids[:2] == ["c-__reboot_", "c-a_b_rm_-rf__"]
    assert len(ids[2]) == 64


def test_too_many_problems_of_one_kind_are_summarised(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        tasks: {matrix: {a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]}, id: same, command: x}
        """,
    )
    assert len([p for p in found if "is not unique" in p.message]) == PER_KIND
    one(found, "tasks.id", f"... and {13 - PER_KIND} more tasks with a duplicate id")


def test_command_lines_over_the_batch_limit(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        params: {big: "%s"}
        tasks: {list: [{id: a, command: "echo {params.big}"}]}
        """
        % ("x" * MAX_COMMAND),
    )
    one(found, "tasks.list[0].command", f"command line is {MAX_COMMAND + 5} characters")


def test_command_lines_measured_after_quoting_each_tasks_values(tmp_path: Path) -> None:
    # 6,600 quotes, each 5 characters once quoted: only task 1 is too long; task 0's value
    # is as long, so its length is bounded above the limit too, then measured.
    found = problems(
        tmp_path,
        f"""\
        tasks:
          matrix: {{v: ["{"x" * 6600}", "{"''" * 3300}"]}}
          id: "t{{index}}"
          command: echo {{item.v}}
        """,
    )
    one(found, "tasks.command", f"task 't1': command line is {5 + 5 * 6600 + 2} characters")
    assert len(found) == 1


def test_globs_matching_nothing_or_escaping_the_spec_dir(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        inputs: ["media/*.mov", "../*.mp4", "/etc/passwd"]
        tasks: {for_each: input, command: "cat {input.name}"}
        """,
        MEDIA,
    )
    one(found, "inputs[0]", "'media/*.mov' matches no file")
    one(found, "inputs[1]", "leaves the spec's directory")
    one(found, "inputs[2]", "is absolute")


def test_unknown_placeholders_are_named_with_what_is_usable(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        params: {crf: 23}
        tasks:
          matrix: {size: [1, 2]}
          id: "t-{item.size}-{task.id}"
          command: "run {input.name} {item.colour} {params.crff} {env.HOME}"
          outputs: ["{item.size}.out", "{oops}"]
        """,
    )
    one(found, "tasks.id", "unknown placeholder {task.id}")
    command = one(found, "tasks.command", "unknown placeholder {input.name}; usable here:")
    assert command.message.endswith("{index}, {item.size}, {params.crf}, {task.id}")
    one(found, "tasks.command", "unknown placeholder {params.crff}; did you mean {params.crf}?")
    for name in ("{item.colour}", "{env.HOME}"):
        one(found, "tasks.command", f"unknown placeholder {name}")
    one(found, "tasks.outputs[1]", "unknown placeholder {oops}")


def test_outputs_must_stay_in_the_working_directory(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        inputs: ["media/a.mp4", "media/...mp4"]
        tasks:
          for_each: input
          command: "cat {input.name}"
          outputs:
            - "/etc/{input.stem}"
            - "../x"
            - {pattern: "{input.stem}/y", destination: "../z"}
            - 'C:\\x'
            - 'sub\\..\\..\\x'
            - 'a\\b:{input.stem}'
        """,
        ["media/a.mp4", "media/...mp4"],
    )
    one(found, "tasks.outputs[3]", "output pattern 'C:\\x' must stay inside")
    one(found, "tasks.outputs[4]", "must stay inside")
    assert not [p for p in found if p.path == "tasks.outputs[5]"]
    one(found, "tasks.outputs[0]", "output pattern '/etc/a' must stay inside")
    one(found, "tasks.outputs[1]", "output pattern '../x' must stay inside")
    one(found, "tasks.outputs[2]", "output pattern '../y' must stay inside")
    one(found, "tasks.outputs[2]", "output destination '../z' must stay inside")


def test_output_values_are_glob_escaped(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        inputs: ["media/*"]
        tasks: {for_each: input, command: "cat {input.name}", outputs: ["{input.stem}*.out"]}
        """,
        ["media/a[1]?.mp4"],
    )
    task = next(iter(RenderedTasks(spec)))
    assert task.outputs[0].pattern == "a[[]1][?]*.out"
    assert task.outputs[0].condition == "tasksuccess"


def test_params_overrides_and_environment_values(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        params: {crf: 23, name: "{env.WHO}", fast: false, day: x}
        tasks:
          list: [{id: a, command: "enc {params.crf} {params.name} {params.fast} {params.day}"}]
          environment: {TOKEN: "{env.TOKEN}", CRF: "{params.crf}", ID: "{task.id}-{{x}}"}
        """,
        overrides=["crf=28", "fast=true", "day=2024-01-02"],
        environ={"WHO": "it's me", "TOKEN": "s3cret"},
    )
    task = next(iter(RenderedTasks(spec)))
    assert task.command == "enc 28 'it'\"'\"'s me' true 2024-01-02"
    assert dict(task.environment) == {"TOKEN": "s3cret", "CRF": "28", "ID": "a-{x}"}
    assert dict(spec.params) == {"crf": 28, "name": "it's me", "fast": True, "day": "2024-01-02"}


def test_missing_environment_variables_and_unknown_overrides_are_named(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        params: {crf: 23, user: "{env.BATCHFLOW_NO_SUCH_VAR}"}
        tasks: {list: [{id: a, command: x, environment: {K: "{env.ALSO_MISSING}"}}]}
        """,
        overrides=["crff=1", "novalue", "crf=[1, 2]"],
        environ={},
    )
    one(found, "params.user", "environment variable BATCHFLOW_NO_SUCH_VAR is not set")
    one(found, "tasks.list[0].environment.K", "environment variable ALSO_MISSING is not set")
    one(found, "params", "--set crff: no such param (the spec declares: crf, user)")
    one(found, "params", "--set 'novalue': expected KEY=VALUE")
    one(found, "params.crf", "--set crf=[1, 2]: this param is a whole number")


def test_durations_nodes_and_autoscale(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        job: {timeout: PT1H30M}
        tasks: {list: [{id: a, command: x, timeout: 90s}, {id: b, command: x}], timeout: 2h}
        """,
    )
    assert spec.job_timeout_s == 5400
    assert [t.timeout_s for t in RenderedTasks(spec)] == [90, 7200]
    found = problems(
        tmp_path,
        """\
        version: 1
        name: demo
        pool:
          vm_size: a
          image: ubuntu-24.04
          nodes: {spot: 1, low_priority: 1}
          autoscale: {formula: "$TargetDedicatedNodes = 1;", interval: 1m}
        job: {timeout: 0s}
        tasks: {list: [{id: a, command: x}]}
        """,
        base=False,
    )
    one(found, "pool.nodes.low_priority", "give spot or low_priority")
    one(found, "pool.autoscale", "give either nodes or autoscale, not both")
    one(found, "pool.autoscale.interval", "must be between 5m and 168h")
    one(found, "job.timeout", "must be longer than zero")


def test_low_priority_is_the_old_name_of_spot(tmp_path: Path) -> None:
    body = "pool: {vm_size: a, image: debian-12, nodes: {low_priority: 3}}\n"
    body += "tasks: {list: [{id: a, command: x}]}\n"
    spec = load(tmp_path, "version: 1\nname: demo\n" + body, base=False)
    assert (spec.pool.dedicated, spec.pool.spot) == (0, 3)
    assert spec.pool.image.node_agent_sku == "batch.node.debian 12"


def test_pools_without_nodes_and_bad_container_names(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        version: 1
        name: My_Job
        pool: {vm_size: a, image: ubuntu-22.04, nodes: {dedicated: 0}}
        containers: {output: "Bad--Name"}
        tasks: {list: [{id: a, command: x}]}
        """,
        base=False,
    )
    one(found, "pool.nodes", "the pool has no nodes")
    one(found, "name", "container name 'my_job-input' is invalid (derived from name")
    one(found, "containers.output", "container name 'Bad--Name' is invalid")


def test_dependencies_must_exist_and_not_cycle(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        tasks:
          list:
            - {id: a, command: x, depends_on: [b]}
            - {id: b, command: x, depends_on: [a]}
            - {id: c, command: x, depends_on: [nope]}
        """,
    )
    one(found, "tasks.list[2].depends_on[0]", "no task has the id 'nope'")
    one(found, "tasks.list", "dependency cycle: a -> b -> a")


def test_a_final_task_may_not_reuse_an_id(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        tasks:
          list: [{id: final, command: x}]
          final: {command: "merge {task.id}"}
        """,
    )
    one(found, "tasks.final.id", "task id 'final' (the final task) is not unique: task #0")


def test_shell_quoting_state_is_checked_in_commands(tmp_path: Path) -> None:
    found = problems(tmp_path, 'tasks: {list: [{id: a, command: "sh -c \'echo"}]}\n')
    one(found, "tasks.list[0].command", "unterminated ' quote in the command")


def test_overrides_are_taken_literally(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        params: {who: "{env.WHO}"}
        tasks: {list: [{id: a, command: "greet {params.who}"}]}
        """,
        overrides=["who={env.WHO}"],  # text, not YAML: braces need no quoting
        environ={"WHO": "me"},
    )
    assert next(iter(RenderedTasks(spec))).command == "greet '{env.WHO}'"


def test_a_problem_in_an_inherited_field_is_reported_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        tasks:
          environment: {K: "{env.NOT_SET_ANYWHERE}"}
          list: [{id: a, command: x}, {id: b, command: y}, {id: c, command: z}]
        """,
    )
    assert [p.path for p in found] == ["tasks.environment.K"]


def test_for_each_needs_inputs_and_list_mode_refuses_a_shared_id(tmp_path: Path) -> None:
    found = problems(tmp_path, "tasks: {for_each: input, command: 'cat {input.name}'}\n")
    one(found, "tasks.for_each", "for_each: input needs an `inputs` list of globs")
    found = problems(tmp_path, "tasks: {list: [{id: a, command: x}], id: b, command: y}\n")
    one(found, "tasks.id", "`id` belongs to each item of `list`")
    one(found, "tasks.command", "`command` belongs to each item of `list`")


def test_start_task_files_need_distinct_names(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        version: 1
        name: demo
        pool:
          vm_size: a
          image: ubuntu-22.04
          nodes: {dedicated: 1}
          start_task: {command: "sh setup.sh", files: ["a/setup.sh", "b/setup.sh"]}
        tasks: {list: [{id: a, command: x}]}
        """,
        ["a/setup.sh", "b/setup.sh"],
        base=False,
    )
    one(found, "pool.start_task.files", "two files are named 'setup.sh'")
