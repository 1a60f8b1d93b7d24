"""``mdm pull`` and ``mdm demo-data``."""
from __future__ import annotations

from pathlib import Path

import click

from ..services.pull import pull as pull_sources
from . import main
from ._options import open_store, with_config


@main.command()
@click.option("--source", "only", default=None, help="Pull only this source.")
@with_config
def pull(config, only: str | None) -> None:  # type: ignore[no-untyped-def]
    """Pull the configured sources into the store (new / changed / deleted records)."""
    store = open_store(config)
    report = pull_sources(store, config, only)
    for r in report.sources:
        if r.status == "ok":
            click.echo(
                f"{r.source}: {r.read} read, {r.new} new, {r.changed} changed, {r.unchanged} unchanged, "
                f"{r.deleted} deleted, {r.quarantined} quarantined ({r.seconds:.1f} s)"
            )
        else:
            click.echo(f"{r.source}: {r.status.upper()}: {r.message}", err=True)
    if report.failed:
        raise SystemExit(1)


@main.command("demo-data")
@click.option("--persons", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
              show_default=True)
def demo_data(persons: int, seed: int, out_dir: Path) -> None:
    """Write a synthetic Turku population in all four source formats, plus truth.csv and mdm.toml."""
    from ..demo_data import generate

    counts = generate(out_dir, persons=persons, seed=seed)
    total = sum(v for k, v in counts.items() if isinstance(v, int))
    click.echo(f"wrote {total} records for {persons} persons to {out_dir}: "
               + ", ".join(f"{k} {v}" for k, v in counts.items()))
    click.echo(f"config: {out_dir / 'mdm.toml'}")
