"""``mdm reconcile``, ``mdm train`` and ``mdm evaluate``."""
from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import click
from sqlalchemy import select

from ..services.reconcile import STAGES, reconcile as run_reconcile, write_report_files
from ..services.report_html import summary_lines
from ..store import models as m
from . import main
from ._options import open_store, with_config

log = logging.getLogger("mdm.reconcile")


@main.command()
@click.option("--full", is_flag=True, help="Score every pair, not only changed records.")
@click.option("--retrain", is_flag=True, help="Train a new model before matching.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_config
def reconcile(config, full: bool, retrain: bool, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Pull every source, match, update golden records, write the report."""
    store = open_store(config)
    tty = sys.stderr.isatty()
    bar = click.progressbar(length=len(STAGES) - 1, label="reconcile", file=sys.stderr) if tty else None

    def stage_done(name: str, info: dict) -> None:  # type: ignore[type-arg]
        if bar is not None:
            bar.label = f"reconcile: {name} done"
            bar.update(1)
        else:
            log.info("stage %s done", name)

    if bar is not None:
        bar.__enter__()
    try:
        report = run_reconcile(store, config, full=full, retrain=retrain, stage_done=stage_done)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    json_path, html_path = write_report_files(report, config.var_dir / "reports")
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        for line in summary_lines(report):
            click.echo(line)
        click.echo(f"report: {json_path} and {html_path}")
    if report.get("status") != "succeeded":
        sys.exit(1)


@main.command()
@with_config
def train(config) -> None:  # type: ignore[no-untyped-def]
    """Retrain the matching model on purpose (the next reconcile re-scores everything with it)."""
    store = open_store(config)
    report = run_reconcile(store, config, retrain=True)
    for line in summary_lines(report):
        click.echo(line)
    click.echo(f"model v{report['matching']['model_version']} trained on "
               f"{report['matching']['records']} records")


def read_truth(path: Path) -> tuple[dict, dict]:  # type: ignore[type-arg]
    person, household = {}, {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"source", "source_id", "person_id"} - set(reader.fieldnames or ())
        if missing:
            raise click.ClickException(f"{path}: missing columns {', '.join(sorted(missing))}")
        for row in reader:
            key = (row["source"], row["source_id"])
            person[key] = row["person_id"]
            if row.get("household_id"):
                household[key] = row["household_id"]
    return person, household


@main.command()
@click.option("--truth", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True)
@with_config
def evaluate(config, truth: Path, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Compare the current clustering with a truth file (source, source_id, person_id[, household_id])."""
    from matching.evaluate import evaluate as run_evaluate

    store = open_store(config)
    person, household = read_truth(truth)
    with store.session() as s:
        rows = s.execute(
            select(m.SourceSystem.name, m.SourceRecord.source_id, m.GoldenLink.golden_id, m.SourceRecord.id)
            .join(m.SourceRecord, m.SourceRecord.source_system_id == m.SourceSystem.id)
            .join(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
            .where(m.SourceRecord.deleted_at.is_(None))
        ).all()
        in_review_ids = set()
        for a, b in s.execute(select(m.ReviewTask.left_record_id, m.ReviewTask.right_record_id)
                              .where(m.ReviewTask.status == "open")):
            in_review_ids.update((a, b))
    predicted = {(src, sid): gid for src, sid, gid, _ in rows}
    review = [(src, sid) for src, sid, _gid, rid in rows if rid in in_review_ids]
    result = run_evaluate(predicted, person, household, review)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"records evaluated:       {result.records}")
    click.echo(f"pairwise precision:      {result.precision:.4f}")
    click.echo(f"pairwise recall:         {result.recall:.4f}")
    click.echo(f"pairwise F1:             {result.f1:.4f}")
    click.echo(f"predicted pairs:         {result.predicted_pairs} (true pairs {result.true_pairs})")
    click.echo(f"household false pairs:   {result.household_false_pairs} "
               f"({result.household_false_share:.4%} of predicted pairs)")
    click.echo(f"records in review:       {result.records_in_review} ({result.review_share:.2%})")
