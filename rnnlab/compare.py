"""One HTML page comparing every trained variant of every task, each row linked to its MLflow run.

Numbers come from the versioned metrics files (metrics/<task>/<variant>.json, models/*/train.json);
links come from the tracking store the page is built against (runs found by name and model hash),
so the page is built on demand (`rnnlab compare`) rather than committed: its links are the store's.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from rnnlab import layout, metricsfile, tracking

OUT = layout.RESULTS / "compare.html"


@dataclass(frozen=True)
class Section:
    folder: str  # metrics/<folder>, models/<folder>, experiment rnnlab-<folder>
    title: str
    columns: dict[str, str]  # heading -> dotted metric key; the first one ranks and is plotted
    lower_is_better: bool = False
    champion_of: str | None = None  # registry task whose champion this folder's variants compete for
    runs: tuple[str, ...] = ()  # the variants params.yaml trains (their metrics files are versioned)


def sections() -> list[Section]:
    """One section per task of params.yaml that trains models, in params order."""
    from rnnlab import kinds

    return [Section(t.name, t.title, t.columns, not t.kind.higher_is_better, t.registered_as, t.runs)
            for t in kinds.trained_tasks().values()]


@dataclass
class Row:
    variant: str
    values: dict[str, float]
    train_seconds: float | None
    parameters: int | None
    run_id: str | None = None
    experiment_id: str | None = None
    champion: bool = False
    extra: dict = field(default_factory=dict)


def rows(section: Section) -> list[Row]:
    """Every variant params.yaml trains that has a metrics file; train time and size where its model is here."""
    out = []
    for variant in section.runs:
        path = layout.metrics(section.folder, variant)
        if not path.is_file():
            continue
        metrics = metricsfile.read(path)
        trained_path = layout.model_dir(section.folder, variant) / "train.json"
        trained = metricsfile.read(trained_path) if trained_path.is_file() else {}
        out.append(Row(path.stem, {h: metricsfile.value(metrics, k) for h, k in section.columns.items()},
                       metricsfile.clock(section.folder, variant).get("train_seconds"), trained.get("parameters")))
    first = next(iter(section.columns))
    sign = 1 if section.lower_is_better else -1
    return sorted(out, key=lambda r: (r.values[first] is None, sign * (r.values[first] or 0), r.variant))


def link_runs(section: Section, table: list[Row]) -> None:
    """Attach each row's MLflow run: the latest run of that name, preferring the one of this very model."""
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name(f"rnnlab-{section.folder}")
    if exp is None:
        return
    runs = client.search_runs([exp.experiment_id], max_results=5000, order_by=["attributes.start_time DESC"])
    by_name: dict[str, list] = {}
    for run in runs:
        by_name.setdefault(run.info.run_name, []).append(run)
    for row in table:
        candidates = by_name.get(f"{section.folder}/{row.variant}", [])
        md5 = tracking.dvc_hash(str(layout.model_dir(section.folder, row.variant)))
        exact = [r for r in candidates if r.data.tags.get("dvc_model_md5") == md5]
        chosen = (exact or candidates or [None])[0]
        if chosen is not None:
            row.run_id, row.experiment_id = chosen.info.run_id, exp.experiment_id


def mark_champion(section: Section, table: list[Row]) -> None:
    path = layout.RESULTS / "champions" / f"{section.champion_of}.json"
    if section.champion_of and path.is_file():
        best = json.loads(path.read_text(encoding="utf-8"))["best_variant"]
        for row in table:
            row.champion = row.variant == best


def plot(section: Section, table: list[Row]) -> str:
    """The ranking metric per variant as a horizontal bar chart, as an inline PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(section.columns))
    shown = [r for r in table if r.values[first] is not None][::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(shown) + 1.2))
    values = [r.values[first] for r in shown]
    colors = ["#d62728" if r.champion else "#1f77b4" for r in shown]
    ax.barh([r.variant for r in shown], values, color=colors)
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or 0.01
    ax.set_xlim(max(0, lo - pad) if not section.lower_is_better else lo - pad, hi + pad)
    ax.set_xlabel(first + (" (lower is better)" if section.lower_is_better else ""))
    ax.tick_params(axis="y", labelsize=7)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.4f}", va="center", fontsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def run_url(ui: str, row: Row) -> str:
    return f"{ui}/#/experiments/{row.experiment_id}/runs/{row.run_id}"


def compare_url(ui: str, table: list[Row]) -> str | None:
    linked = [r for r in table if r.run_id]
    if not linked:
        return None
    runs = json.dumps([r.run_id for r in linked])
    experiments = json.dumps(sorted({r.experiment_id for r in linked}))
    return f"{ui}/#/compare-runs?runs={urllib.parse.quote(runs)}&experiments={urllib.parse.quote(experiments)}"


def default_ui() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"


def _section_html(section: Section, table: list[Row], ui: str) -> str:
    e = html.escape
    heads = "".join(f"<th>{e(h)}</th>" for h in section.columns)
    body = []
    for r in table:
        cells = "".join(f"<td>{'' if v is None else f'{v:.4f}'}</td>" for v in r.values.values())
        run = (f'<a href="{e(run_url(ui, r))}">{e(r.run_id[:8])}</a>' if r.run_id
               else '<span class="none">not in this store</span>')
        star = ' <span title="registered champion">★</span>' if r.champion else ""
        body.append(f"<tr><td>{e(r.variant)}{star}</td>{cells}"
                    f"<td>{'' if r.parameters is None else f'{r.parameters:,}'}</td>"
                    f"<td>{'' if r.train_seconds is None else f'{r.train_seconds:.1f}'}</td><td>{run}</td></tr>")
    compare = compare_url(ui, table)
    compare_link = f' · <a href="{e(compare)}">compare these runs in MLflow</a>' if compare else ""
    return (f'<section id="{e(section.folder)}"><h2>{e(section.title)}</h2>'
            f'<p>{len(table)} variant{"s" if len(table) != 1 else ""}, best first by {e(next(iter(section.columns)))}{compare_link}</p>'
            f'<img alt="{e(section.title)}" src="data:image/png;base64,{plot(section, table)}">'
            f"<table><tr><th>variant</th>{heads}<th>parameters</th><th>train s</th><th>MLflow run</th></tr>"
            f"{''.join(body)}</table></section>")


STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;"
         "font-size:13px}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}"
         "td:first-child,th:first-child{text-align:left}.none{color:#999}img{display:block;margin:1em 0}"
         "th{cursor:pointer}")
# click a heading to sort its table by that column (numbers as numbers, ascending), again to reverse
SORT = ("<script>document.querySelectorAll('table').forEach(t=>t.querySelectorAll('th').forEach((th,i)=>"
        "th.onclick=()=>{const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';"
        "const key=r=>{const s=r.cells[i].innerText.replace(/[,★\\s]/g,'');const n=parseFloat(s);return isNaN(n)?s:n};"
        "[...t.rows].slice(1).sort((a,b)=>(key(a)>key(b)?1:key(a)<key(b)?-1:0)*(asc?1:-1))"
        ".forEach(r=>r.parentNode.appendChild(r))}));"
        # compare.html#sort=N opens every table sorted by its Nth column (0: variant)
        "const m=location.hash.match(/sort=(\\d+)/);if(m)document.querySelectorAll('table')"
        ".forEach(t=>t.rows[0].cells[+m[1]]&&t.rows[0].cells[+m[1]].click())</script>")


def build(out: Path = OUT, ui: str | None = None) -> dict:
    """Write the page; return {folder: [rows]} for callers that check it."""
    tracking.require_reachable(tracking.configure())
    ui = (ui or default_ui()).rstrip("/")
    parts, tables = [], {}
    all_sections = sections()
    for section in all_sections:
        table = rows(section)
        if not table:
            continue
        link_runs(section, table)
        mark_champion(section, table)
        tables[section.folder] = table
        parts.append(_section_html(section, table, ui))
    nav = " · ".join(f'<a href="#{s.folder}">{html.escape(s.title)}</a>' for s in all_sections if s.folder in tables)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>rnnlab: every variant</title>"
            f"<style>{STYLE}</style></head><body><h1>rnnlab: every task, every variant</h1>"
            f"<p>From the versioned metrics files; runs from the MLflow store {html.escape(tracking.redacted(tracking.configure()))}"
            f" (UI {html.escape(ui)}). ★ = the registered champion (red bar); click a heading to sort.</p>"
            f"<p>{nav}</p>{''.join(parts)}{SORT}</body></html>")
    from rnnlab import atomic

    atomic.write_text(out, page)
    return tables
