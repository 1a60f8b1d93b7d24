"""A reconciliation report as a self-contained HTML page and as a few lines of text."""
from __future__ import annotations

from html import escape
from typing import Any


def _bars(title: str, items: list[tuple[str, int]]) -> str:
    if not items:
        return f"<h2>{escape(title)}</h2><p>No data.</p>"
    top = max(c for _, c in items) or 1
    height = 22 * len(items) + 10
    rows = []
    for i, (label, count) in enumerate(items):
        width = 400 * count / top
        y = 5 + 22 * i
        rows.append(
            f'<text x="0" y="{y + 14}" font-size="12">{escape(label)}</text>'
            f'<rect x="110" y="{y}" width="{width:.1f}" height="16" fill="#3b6ea5"></rect>'
            f'<text x="{115 + width:.1f}" y="{y + 13}" font-size="12">{count}</text>'
        )
    return (f"<h2>{escape(title)}</h2><svg width=\"600\" height=\"{height}\" role=\"img\" "
            f"aria-label=\"{escape(title)}\">{''.join(rows)}</svg>")


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_report(report: dict[str, Any]) -> str:
    sizes = [(f"size {k}", v) for k, v in report.get("cluster_sizes", {}).items()]
    weights = [(f"{h['from']}..{h['to']}", h["count"]) for h in report.get("match_weight_histogram", [])]
    golden = report.get("golden", {})
    matching = report.get("matching", {})
    stages = [{"stage": k, "seconds": v} for k, v in report.get("stages", {}).items()]
    sources = report.get("sources", [])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reconciliation run {report.get('run_id')}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:right}}</style></head><body>
<h1>Reconciliation run {report.get('run_id')} — {escape(str(report.get('status', '')))}</h1>
<p>Started {escape(str(report.get('started_at')))}, {report.get('seconds')} s in all.</p>
<h2>Sources</h2>
{_table(sources, ['source', 'status', 'read', 'new', 'changed', 'unchanged', 'deleted', 'quarantined', 'seconds', 'message'])}
<h2>Matching</h2>
{_table([matching], ['records', 'changed_records', 'full', 'model_version', 'model_trained', 'pairs_scored', 'auto_links', 'rule_links', 'review_pairs', 'conflicts'])}
<h2>Golden records</h2>
{_table([golden], ['created', 'updated', 'merged', 'split', 'retired', 'links_changed', 'relations_added', 'relations_removed', 'review_opened', 'review_closed', 'history_rows'])}
<h2>Time per stage</h2>
{_table(stages, ['stage', 'seconds'])}
{_bars('Cluster sizes', sizes)}
{_bars('Match weights of scored pairs', weights)}
</body></html>
"""


def summary_lines(report: dict[str, Any]) -> list[str]:
    lines = [f"run {report['run_id']}: {report.get('status')} in {report.get('seconds')} s"]
    for src in report.get("sources", []):
        if src["status"] == "ok":
            lines.append(f"  {src['source']}: {src['read']} read, {src['new']} new, {src['changed']} changed, "
                         f"{src['deleted']} deleted, {src['quarantined']} quarantined")
        else:
            lines.append(f"  {src['source']}: {src['status'].upper()}: {src['message']}")
    mt = report.get("matching", {})
    clustered = mt.get("clustered_records", mt.get("records"))
    part = "," if clustered == mt.get("records") else f", {clustered} re-clustered, of which"
    lines.append(f"  matching: {mt.get('records')} records, {mt.get('changed_records')} scored"
                 f"{' (full)' if mt.get('full') else ''}, model v{mt.get('model_version')}"
                 f"{' (trained now)' if mt.get('model_trained') else ''}{part} {mt.get('auto_links')} auto links, "
                 f"{mt.get('rule_links')} rule links, {mt.get('review_pairs')} to review")
    g = report.get("golden", {})
    lines.append(f"  golden: {g.get('created')} created, {g.get('updated')} updated, {g.get('merged')} merged, "
                 f"{g.get('split')} split, {g.get('retired')} retired; {g.get('history_rows')} history rows")
    lines.append("  time: " + ", ".join(f"{k} {v} s" for k, v in report.get("stages", {}).items()))
    return lines
