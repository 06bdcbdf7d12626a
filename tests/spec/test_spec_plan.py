"""build_plan: containers, uploads, pool, job and the lazily rendered tasks."""

from __future__ import annotations

import fnmatch
import hashlib
import shlex
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_files import load, write_spec

from batchflow.errors import UsageError
from batchflow.plan import build_plan
from batchflow.plan_model import ImageRef, InputFile
from batchflow.spec import load_spec
from batchflow.spec.expand import RenderedTasks

REPO = Path(__file__).resolve().parents[2]


def test_ffmpeg_example_plan() -> None:
    plan = build_plan(load_spec(REPO / "examples" / "ffmpeg.yaml"))
    assert (plan.input_container, plan.output_container) == ("ffmpeg-input", "ffmpeg-output")
    assert plan.pool.id == "ffmpeg-pool" and plan.job.id == "ffmpeg-job"
    assert plan.pool.image == ImageRef(
        "canonical",
        "0001-com-ubuntu-server-jammy",
        "22_04-lts",
        "latest",
        "batch.node.ubuntu 22.04",
    )
    assert (plan.pool.dedicated, plan.pool.spot) == (0, 5)
    assert plan.pool.start_task is not None and plan.pool.start_task.elevated
    assert plan.job.timeout_s == 1800 and not plan.job.uses_dependencies
    assert plan.download_dir == REPO / "examples" / "out"
    assert plan.cleanup.job and plan.cleanup.pool and not plan.cleanup.inputs
    tasks = list(plan.tasks)
    assert len(plan.tasks) == 3 and [t.id for t in tasks] == [
        "convert-clip-a",
        "convert-clip-b",
        "convert-clip-c",
    ]
    first = tasks[0]
    assert first.inputs == (InputFile(blob="media/clip-a.mp4", path="clip-a.mp4"),)
    assert shlex.split(first.command)[-3:] == ["-b:a", "96k", "clip-a.mp3"]
    assert first.max_retries == 2 and first.timeout_s == 600
    assert first.outputs[0].pattern == "clip-a.mp3"


def test_uploads_carry_size_and_md5(tmp_path: Path) -> None:
    path = write_spec(
        tmp_path,
        """\
        version: 1
        name: Demo
        inputs: ["data/**/*.txt", "data/top.txt"]
        pool:
          vm_size: a
          image: {publisher: p, offer: o, sku: s, node_agent_sku: n}
          nodes: {dedicated: 1}
          start_task: {command: "sh setup.sh", files: [setup.sh]}
        tasks: {for_each: input, command: "cat {input.path}"}
        """,
        ["data/top.txt", "data/sub/deep.txt", "setup.sh"],
        base=False,
    )
    plan = build_plan(load_spec(path))
    assert plan.input_container == "demo-input"
    blobs = {u.blob: u for u in plan.uploads}
    assert sorted(blobs) == ["data/sub/deep.txt", "data/top.txt", "setup.sh"]
    deep = blobs["data/sub/deep.txt"]
    content = (tmp_path / "data/sub/deep.txt").read_bytes()
    assert deep.size == len(content) and deep.md5 == hashlib.md5(content).digest()
    assert plan.pool.image.version == "latest"
    assert plan.pool.start_task is not None
    assert plan.pool.start_task.inputs == (InputFile("setup.sh", "setup.sh"),)
    assert [t.command for t in plan.tasks] == ["cat data/sub/deep.txt", "cat data/top.txt"]


def test_final_task_depends_on_every_task(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        tasks:
          matrix: {a: [x, y], b: [1, 2]}
          id: "t-{item.a}{item.b}"
          command: "run {item.a} {item.b} {index}"
          final: {command: "merge", environment: {WHO: "{task.id}"}}
        """,
    )
    plan = build_plan(spec)
    assert [t.id for t in plan.tasks] == ["t-x1", "t-x2", "t-y1", "t-y2"]
    assert [t.command for t in plan.tasks][-1] == "run y 2 3"
    final = plan.job.final_task
    assert final is not None and final.id == "final"
    assert final.depends_on == ("t-x1", "t-x2", "t-y1", "t-y2")
    assert dict(final.environment) == {"WHO": "final"}
    assert plan.job.uses_dependencies
    assert final.inputs == () and not plan.reads_outputs  # the tasks declare no outputs


def test_the_final_task_gathers_the_tasks_outputs_by_their_names(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        tasks:
          matrix: {n: [1, 2]}
          command: "run {item.n}"
          outputs:
            - "part{item.n}.out"
            - {pattern: "log{item.n}.txt", optional: true}
            - {pattern: "*.png", destination: "img"}
            - {pattern: "err{item.n}.txt", when: failure}
          final: {command: "cat part1.out part2.out"}
        """,
    )
    plan = build_plan(spec)
    final = plan.job.final_task
    assert final is not None and plan.reads_outputs
    assert final.inputs == (
        InputFile("part1.out", "part1.out", "output"),
        InputFile("log1.txt", "", "output", prefix=True),  # may not exist: no error then
        InputFile("img/", "", "output", prefix=True),
        InputFile("part2.out", "part2.out", "output"),
        InputFile("log2.txt", "", "output", prefix=True),
    )


def test_a_final_task_over_many_outputs_gets_them_under_their_common_prefix(
    tmp_path: Path,
) -> None:
    numbers = ", ".join(str(i) for i in range(1001))
    spec = load(
        tmp_path,
        """\
        tasks:
          matrix: {n: [NUMBERS]}
          command: "run {item.n}"
          outputs:
            - "res/part{item.n}.out"
            - {pattern: "res/log{item.n}.txt", optional: true}
            - {pattern: "*.png", destination: "img"}
          final: {command: "cat res/*.out"}
        """.replace("NUMBERS", numbers),
    )
    final = build_plan(spec).job.final_task
    assert final is not None
    assert final.inputs == (
        InputFile("img/", "", "output", prefix=True),
        InputFile("res/", "", "output", prefix=True),
    )
    # a folder per task, too many of them: one prefix for all
    spec = load(
        tmp_path,
        """\
        tasks:
          matrix: {n: [NUMBERS]}
          command: "run {item.n}"
          outputs: [{pattern: "*.png", destination: "img/{item.n}"}]
          final: {command: "ls img"}
        """.replace("NUMBERS", numbers),
    )
    final = build_plan(spec).job.final_task
    assert final is not None
    assert final.inputs == (InputFile("img/", "", "output", prefix=True),)


def test_list_tasks_with_dependencies(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        params: {n: 3}
        tasks:
          retries: 1
          list:
            - {id: "prep-{params.n}", command: "prep"}
            - {id: work, command: "work {index}", depends_on: [prep-3], retries: 4}
        """,
    )
    plan = build_plan(spec)
    prep, work = list(plan.tasks)
    assert (prep.id, prep.max_retries) == ("prep-3", 1)
    assert (work.depends_on, work.max_retries, work.command) == (("prep-3",), 4, "work 1")
    assert plan.job.uses_dependencies


def test_matrix_sources_are_lazy_and_indexable(tmp_path: Path) -> None:
    values = ", ".join(str(i) for i in range(200))
    spec = load(
        tmp_path,
        f"""\
        tasks:
          matrix: {{a: [{values}], b: [{values}]}}
          id: "t-{{item.a}}-{{item.b}}"
          command: "run {{item.a}} {{item.b}}"
        """,
    )
    source = RenderedTasks(spec)
    assert len(source) == 40_000
    assert source.task_at(201).id == "t-1-1"
    assert source.task_at(39_999).command == "run 199 199"
    with pytest.raises(IndexError):
        source.task_at(40_000)
    tracemalloc.start()
    count = sum(1 for _ in source)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 40_000
    assert peak < 5_000_000, f"iterating held {peak} bytes"


def test_iterating_twice_gives_the_same_tasks(tmp_path: Path) -> None:
    spec = load(tmp_path, "tasks: {matrix: {a: [1, 2, 3]}, command: 'x {item.a}'}\n")
    source = build_plan(spec).tasks
    assert list(source) == list(source)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names")
def test_input_placeholders(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        """\
        inputs: ["in/*"]
        tasks:
          for_each: input
          command: "p {input.name} {input.stem} {input.suffix} {input.path} {index}"
        """,
        ["in/a.tar.gz", "in/README", "in/.hidden.txt"],
    )
    commands = [shlex.split(t.command)[1:] for t in RenderedTasks(spec)]
    assert commands == [
        ["README", "README", "", "in/README", "0"],
        ["a.tar.gz", "a.tar", ".gz", "in/a.tar.gz", "1"],
    ]


_names = st.text(
    st.characters(exclude_characters="\x00/", exclude_categories=["Cs"]), min_size=1, max_size=40
).filter(lambda n: not n.startswith(".") and len(n.encode()) < 200)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_names)
def test_any_input_file_name_gives_a_valid_id_and_one_word(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    tmp = tmp_path_factory.mktemp("names")
    spec = load(
        tmp,
        """\
        inputs: ["in/*"]
        tasks:
          for_each: input
          id: "t-{input.stem}"
          command: /bin/sh -c "cp {input.name} out-{input.name}" && echo {input.path}
          outputs: ["out-{input.name}"]
        """,
        [f"in/{name}"],
    )
    task = build_plan(spec).tasks.__iter__().__next__()
    words = shlex.split(task.command)
    assert words[:2] == ["/bin/sh", "-c"] and words[-1] == f"in/{name}"
    as_word = f"./{name}" if name.startswith("-") else name  # never read as an option
    assert shlex.split(words[2]) == ["cp", as_word, f"out-{name}"]
    assert task.inputs == (InputFile(f"in/{name}", name),)
    assert 2 < len(task.id) <= 64 and all(
        c.isascii() and (c.isalnum() or c in "-_") for c in task.id
    )
    assert fnmatch.fnmatchcase(f"out-{name}", task.outputs[0].pattern)


def test_an_input_that_vanishes_before_planning_is_a_usage_error(tmp_path: Path) -> None:
    spec = load(tmp_path, "inputs: [a.txt]\ntasks: {for_each: input, command: x}\n", ["a.txt"])
    (tmp_path / "a.txt").unlink()
    with pytest.raises(UsageError, match=r"cannot read input .*a\.txt: No such file"):
        build_plan(spec)


# Specs using every part of a task's JSON: environment (secret and not), retries, timeouts,
# outputs literal or not and on failure, list dependencies, a final task, workflow steps.
JSON_SPECS = [
    (
        """\
        inputs: ["media/*"]
        tasks:
          for_each: input
          id: "c-{input.stem}"
          command: /bin/sh -c "cat {input.name} '{input.path}' > {task.id}.out"
          environment: {TOKEN: "{env.TOKEN}", NAME: "{input.name}", FIXED: x}
          retries: 2
          timeout: 10m
          outputs:
            - {pattern: "{task.id}.out", destination: "r/{input.stem}"}
            - {pattern: "*.log", when: failure}
            - {pattern: "-lit*", destination: "d", optional: true}
          final: {id: after, command: "echo done"}
        """,
        ["media/-a b.mp4", "media/it's.mp4", 'media/x"y[1].txt'],
    ),
    (
        """\
        tasks:
          list:
            - {id: a, command: "echo a", environment: {K: "{env.TOKEN}"}}
            - {id: b, command: "echo b", depends_on: [a], timeout: 90s}
        """,
        [],
    ),
    (
        """\
        inputs: ["media/*"]
        steps:
          up:
            for_each: input
            command: /bin/sh -c "tr a-z A-Z < {input.name} > {input.stem}.up"
            environment: {S: "{env.TOKEN}", T: "{task.id}"}
            outputs:
              - "{input.stem}.up"
              - {pattern: "e.txt", destination: "{task.id}", when: failure}
          count:
            for_each: {outputs: up}
            retries: 1
            command: /bin/sh -c "wc -c < {input.name} > {input.name}.n"
            outputs: ["{input.name}.n"]
          total:
            inputs: {from: count}
            command: /bin/sh -c "cat count/*.n > total.txt"
            outputs: [total.txt]
        """,
        ["media/-a b.mp4", "media/it's.mp4", 'media/x"y[1].txt'],
    ),
    (
        """\
        params: {tool: "t\\"q"}
        tasks:
          matrix: {a: ["x\\\\y", "q\\"'", "{{}}", "é\\n-", "*?"], b: [1, 2]}
          id: "m-{item.a}-{item.b}"
          command: /bin/sh -c "{params.tool} '{item.a}' \\"{item.b}\\" {item.a}{{x}} > {task.id}"
          environment: {A: "{item.a}", T: "{env.TOKEN}"}
          outputs: ["{item.a}-{index}", {pattern: o, destination: "{{d}}/{item.a}{item.b}"}]
        """,
        [],
    ),
]


JSON_SPECS.append(
    (
        """\
        inputs: ["media/*"]
        steps:
          a:
            matrix: {x: ["q\\"'", "-v", p], y: ["1", "2"]}
            command: /bin/sh -c "echo {item.x} {item.y} > {task.id}.out"
            environment: {T: "{env.TOKEN}", X: "{item.x}"}
            outputs: ["{task.id}.out"]
          b:
            for_each: input
            inputs: {from: a, pattern: "*.out"}
            command: cat {input.name} a/*.out {input.suffix} {input.stem}
            outputs: ["{input.stem}.b"]
          e:
            for_each: {outputs: b}
            command: echo {input.stem} {input.suffix} {input.path} {index}
            outputs: ["{input.name}.e"]
          c:
            for_each: {outputs: a}
            needs: [b]
            command: cat {input.path} {input.name}
            outputs: ["{input.name}.c"]
          d:
            inputs: {from: [b, c]}
            command: "cat b/* c/*"
        """,
        ["media/-a b.mp4", "media/it's.mp4", 'media/x"y[1].txt', "media/README", "media/c."],
    )
)


JSON_SPECS.append(
    (
        """\
        inputs: ["media/*"]
        steps:
          one:
            for_each: input
            command: cat {input.name} > {input.name}.o
            environment: {T: "{env.TOKEN}"}
            outputs: ["{input.name}.o"]
        """,
        ["media/-x.txt", "media/y.txt"],  # plain names, one read as an option unless ./-x
    )
)


@pytest.mark.parametrize(("body", "files"), JSON_SPECS)
def test_plan_json_writes_each_task_as_task_text_does(
    tmp_path: Path, body: str, files: list[str]
) -> None:
    from batchflow.commands.plan import _task_texts, task_text

    spec = load(tmp_path, body, files, environ={"TOKEN": "s3cret"})
    assert spec.secret_env
    plan = build_plan(spec)
    expected = [task_text(t, spec.secret_env) for t in plan.tasks]
    assert list(_task_texts(plan.tasks, spec.secret_env)) == expected
    assert "s3cret" not in "".join(expected) and len(expected) >= 2
