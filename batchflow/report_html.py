"""A run record as one self-contained HTML page: Gantt timeline of every task per node and
slot, duration histogram, stage times, failures with their stderr tails, and a sortable task
table. Charts are SVG drawn here (no script needed to see them); the table is built by a few
lines of inline script from the embedded JSON, showing the first ``TABLE_ROWS`` rows of the
chosen order, so 10,000 tasks stay light to load. Nothing is fetched from the network.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import statistics
from collections import defaultdict
from typing import Any

from batchflow.engine.records import RunRecord, TaskRecord, parse_time

PALETTE = ("#4e79a7", "#59a14f", "#9c755f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7")
FAILED = "#e15759"
TABLE_ROWS = 1000
WIDTH = 1100
LANE_H = 6
STDERR_LINES = 10
SHOWN_FAILURES = 50

_CSS = """body{font:13px system-ui,sans-serif;margin:20px;color:#222}h1{font-size:20px}
h2{font-size:16px;margin-top:28px}table{border-collapse:collapse}td,th{padding:2px 8px;
border-bottom:1px solid #eee;text-align:left}th{cursor:pointer;background:#f6f6f6}
pre{background:#f6f6f6;padding:6px;overflow:auto;max-height:12em}.k{color:#666}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}"""

_JS = """const T=JSON.parse(document.getElementById('tasks').textContent);
const C=['id','step','state','node','seconds','attempts','exit_code'];let key='seconds',dir=-1;
function draw(){const s=T.slice().sort((a,b)=>{const x=a[key],y=b[key];
return (x===y?0:x===null?1:y===null?-1:x<y?-1:1)*dir});const b=document.getElementById('rows');
const p=[];for(const t of s.slice(0,ROWS)){p.push('<tr>'+C.map(c=>'<td>'+(t[c]===null?'':
String(t[c]).replace(/[&<>]/g,m=>({'&':'&amp;','<':'&lt;','>':'&gt;'})[m]))+'</td>').join('')
+'</tr>')}b.innerHTML=p.join('');document.getElementById('shown').textContent=
Math.min(s.length,ROWS)+' of '+s.length+' tasks, by '+key+(dir<0?' (descending)':'')}
document.querySelectorAll('th[data-k]').forEach(h=>h.onclick=()=>{const k=h.dataset.k;
dir=k===key?-dir:1;key=k;draw()});draw();
document.body.dataset.renderedMs=performance.now().toFixed(0);""".replace("ROWS", str(TABLE_ROWS))


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _lanes(tasks: list[TaskRecord]) -> list[tuple[str, int, TaskRecord]]:
    """(node, slot, task) for every task with times: on each node, a task takes the first
    slot free at its start (the order Batch's own heat map shows)."""
    placed: list[tuple[str, int, TaskRecord]] = []
    ends: dict[str, list[str]] = defaultdict(list)
    for t in sorted(tasks, key=lambda t: t.start or ""):
        node, start = t.node or "?", t.start or ""
        slots = ends[node]
        slot = next((i for i, end in enumerate(slots) if end <= start), len(slots))
        if slot == len(slots):
            slots.append("")
        slots[slot] = t.end or start
        placed.append((node, slot, t))
    return placed


def _when(text: str | None) -> _dt.datetime:
    return parse_time(text) or _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)


def _color(t: TaskRecord, steps: dict[str | None, str]) -> str:
    return FAILED if t.result == "failure" else steps.get(t.step, PALETTE[0])


def gantt(rec: RunRecord, steps: dict[str | None, str]) -> str:
    """The timeline: one row per node slot, one bar per task, as SVG."""
    timed = [t for t in rec.tasks.values() if t.start and t.end]
    if not timed:
        return "<p>No task has start and end times.</p>"
    t0 = min(_when(t.start) for t in timed)
    t1 = max(_when(t.end) for t in timed)
    span = max((t1 - t0).total_seconds(), 1e-3)
    placed = _lanes(timed)
    rows = sorted({(n, s) for n, s, _ in placed})
    index = {r: i for i, r in enumerate(rows)}
    lane = max(2, min(LANE_H, 600 // max(1, len(rows))))
    left, height = 140, lane * len(rows) + 30
    scale = (WIDTH - left - 10) / span
    parts = [f'<svg width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    nodes: dict[str, int] = {}
    for (node, _), i in index.items():
        nodes.setdefault(node, i)
    for n, (node, i) in enumerate(nodes.items()):
        if n < 200:
            label = _esc(node[-16:])
            parts.append(f'<text x="0" y="{i * lane + 9}" font-size="9">{label}</text>')
    for node, slot, t in placed:
        x = left + (_when(t.start) - t0).total_seconds() * scale
        w = max(0.5, (t.seconds or 0) * scale)
        y = index[(node, slot)] * lane
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{lane - 1}" '
            f'fill="{_color(t, steps)}"><title>{_esc(t.id)} {t.seconds:.2f}s</title></rect>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 8}" font-size="10">0s</text>'
        f'<text x="{WIDTH - 60}" y="{height - 8}" font-size="10">{span:.1f}s</text></svg>'
    )
    return "".join(parts)


def histogram(rec: RunRecord, bins: int = 40) -> str:
    """Task durations in ``bins`` bars, as SVG."""
    secs = [t.seconds for t in rec.tasks.values() if t.seconds is not None]
    if not secs:
        return "<p>No durations.</p>"
    lo, hi = min(secs), max(secs)
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for s in secs:
        counts[min(bins - 1, int((s - lo) / width))] += 1
    top, h, bw = max(counts), 120, (WIDTH - 200) / bins
    parts = [f'<svg width="{WIDTH - 160}" height="{h + 20}" xmlns="http://www.w3.org/2000/svg">']
    for i, c in enumerate(counts):
        bh = c / top * h
        parts.append(
            f'<rect x="{i * bw:.1f}" y="{h - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" '
            f'fill="{PALETTE[0]}"><title>{lo + i * width:.2f}s-{lo + (i + 1) * width:.2f}s: '
            f"{c}</title></rect>"
        )
    parts.append(
        f'<text x="0" y="{h + 15}" font-size="10">{lo:.2f}s</text>'
        f'<text x="{WIDTH - 240}" y="{h + 15}" font-size="10">{hi:.2f}s</text></svg>'
    )
    return "".join(parts)


def _failures(rec: RunRecord) -> str:
    failed = [t for t in rec.tasks.values() if t.result == "failure"]
    if not failed:
        return "<p>None.</p>"
    parts = []
    for t in failed[:SHOWN_FAILURES]:
        path = rec.log_path(t.id, "stderr")
        tail = ""
        if path.is_file():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            tail = "\n".join(lines[-STDERR_LINES:])
        parts.append(
            f"<h3>{_esc(t.id)}</h3><p>exit code {_esc(t.exit_code)}, {_esc(t.category)}: "
            f"{_esc(t.message)}</p><pre>{_esc(tail) or '(no stderr kept)'}</pre>"
        )
    if len(failed) > SHOWN_FAILURES:
        parts.append(f"<p>... and {len(failed) - SHOWN_FAILURES} more failed tasks.</p>")
    return "".join(parts)


def _row(t: TaskRecord) -> dict[str, Any]:
    done = "succeeded" if t.result == "success" else "failed"
    state = done if t.state == "completed" else t.state
    secs = t.seconds
    return {
        "id": t.id,
        "step": t.step,
        "state": state,
        "node": t.node,
        "seconds": round(secs, 3) if secs is not None else None,
        "attempts": 1 + t.retries + t.requeues,
        "exit_code": t.exit_code,
    }


def _summary(rec: RunRecord) -> str:
    secs = [t.seconds for t in rec.tasks.values() if t.seconds is not None]
    ok = sum(1 for t in rec.tasks.values() if t.result == "success")
    bad = sum(1 for t in rec.tasks.values() if t.result == "failure")
    median = f"{statistics.median(secs):.2f}s" if secs else "-"
    stages = "".join(
        f"<tr><td>{_esc(k)}</td><td>{v:.2f}s</td></tr>" for k, v in rec.seconds.items()
    )
    return (
        f"<p><b>{_esc(rec.outcome)}</b>: {ok} of {rec.total} tasks succeeded, {bad} failed"
        f"{f', {rec.up_to_date} up to date' if rec.up_to_date else ''}. "
        f"<span class=k>Target {_esc(rec.target)}, job {_esc(rec.job)}, started "
        f"{_esc(rec.started)}, ended {_esc(rec.ended or '-')}; median task {median}.</span></p>"
        f"<h2>Stages</h2><table>{stages}</table>"
    )


def render(rec: RunRecord) -> str:
    """The whole page."""
    names = sorted({t.step for t in rec.tasks.values()}, key=lambda s: s or "")
    steps = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(names)}
    legend = "".join(
        f'<span style="background:{c}"></span>{_esc(s or "tasks")}' for s, c in steps.items()
    )
    data = json.dumps([_row(t) for t in rec.tasks.values()], separators=(",", ":"))
    data = data.replace("</", "<\\/")  # no "</script>" inside the data
    heads = "".join(
        f'<th data-k="{c}">{c}</th>'
        for c in ("id", "step", "state", "node", "seconds", "attempts", "exit_code")
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>batchflow run "
        f"{_esc(rec.run_id)}</title><style>{_CSS}</style></head><body>"
        "<script>window.onerror=function(m){document.body.dataset.errors="
        "(document.body.dataset.errors||'')+m+';'}</script>"
        f"<h1>{_esc(rec.spec)} — run {_esc(rec.run_id)}</h1>{_summary(rec)}"
        f'<h2>Timeline (node and slot)</h2><div class=legend>{legend}<span style="background:'
        f'{FAILED}"></span>failed</div>{gantt(rec, steps)}'
        f"<h2>Task durations</h2>{histogram(rec)}<h2>Failures</h2>{_failures(rec)}"
        f"<h2>Tasks</h2><p id=shown></p><table><thead><tr>{heads}</tr></thead>"
        f"<tbody id=rows></tbody></table>"
        f'<script type="application/json" id="tasks">{data}</script>'
        f"<script>{_JS}</script></body></html>"
    )
