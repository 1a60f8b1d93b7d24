"""``mdm export golden|xref|identifiers``."""
from __future__ import annotations

from pathlib import Path

import click

from ..services.export import FORMATS, KINDS, export
from . import main
from ._options import open_store, with_config


@main.command("export")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write (replaced when complete).")
@click.option("--reveal-hetu", is_flag=True,
              help="Write HETUs unmasked (audited; needs --actor and --reason).")
@click.option("--actor", default=None, help="Who asks for the unmasked HETUs.")
@click.option("--reason", default=None, help="Why the unmasked HETUs are needed.")
@with_config
def export_command(config, kind: str, fmt: str, out: Path, reveal_hetu: bool,  # type: ignore[no-untyped-def]
                   actor: str | None, reason: str | None) -> None:
    """Export the active golden records, the cross-reference (source record -> golden id)
    or the identifiers of golden records. HETUs are masked unless --reveal-hetu."""
    store = open_store(config)
    result = export(store, kind, fmt, out, reveal_hetu=reveal_hetu, actor=actor, reason=reason)
    note = "" if kind == "xref" else ("; HETUs revealed (audited)" if result.hetu_revealed else "; HETUs masked")
    click.echo(f"wrote {result.rows} rows to {result.path} ({kind}, {fmt}{note})")
