"""The graph of a workflow's steps as a rich tree: each step under the steps it waits for."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from rich.tree import Tree

from batchflow.plan_model import StepPlan


def _label(step: StepPlan) -> Text:
    how = []
    if step.source:
        how.append(f"one per output of {step.source}")
    if step.gather:
        files = f", files {step.pattern}" if step.pattern else ""
        how.append(f"gathers {', '.join(step.gather)}{files}")
    if step.needs:
        how.append(f"after {', '.join(step.needs)}")
    if step.download:
        how.append("downloaded")
    text = Text(step.name, style="bold")
    if step.dynamic:
        text.append("  dynamic", style="yellow")
    else:
        text.append(f"  {step.task_count:,} task{'s' if step.task_count != 1 else ''}")
    if how:
        text.append(f"  ({'; '.join(how)})", style="dim")
    return text


def steps_tree(steps: Sequence[StepPlan]) -> Tree:
    """Steps nothing feeds are roots; every other step hangs under each step it waits for
    (a diamond's join shows under both branches, as ``...`` the second time)."""
    tree = Tree(Text(f"steps ({len(steps)})"))
    children: dict[str, list[StepPlan]] = {}
    for step in steps:
        for up in (*((step.source,) if step.source else ()), *step.gather, *step.needs):
            children.setdefault(up, []).append(step)
    shown: set[str] = set()

    def add(node: Tree, step: StepPlan) -> None:
        if step.name in shown:
            node.add(Text(f"{step.name} ...", style="dim"))
            return
        shown.add(step.name)
        branch = node.add(_label(step))
        for child in children.get(step.name, []):
            add(branch, child)

    for step in steps:
        if not (step.source or step.gather or step.needs):
            add(tree, step)
    return tree
