"""``mdm demo-run``: the quick start's demo, end to end."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click
from sqlalchemy import select

from ..config import load_config
from ..services import accounts
from ..services.reconcile import reconcile, write_report_files
from ..services.report_html import summary_lines
from ..store import Store
from ..store import models as m
from . import main

DEMO_USER = "demo"


def _demo_login(store: Store, var_dir: Path) -> tuple[str, str]:
    """The demo admin's name and password; created on the first run and kept in var/ (mode 0600)."""
    path = var_dir / "demo-login.json"
    with store.session() as s:
        exists = s.scalars(select(m.AppUser).where(m.AppUser.username == DEMO_USER)).first() is not None
        if exists and path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            return data["username"], data["password"]
        password = secrets.token_urlsafe(12)
        if exists:
            raise click.ClickException(
                f"user {DEMO_USER!r} exists but {path} is gone; remove the var folder to start the demo afresh")
        accounts.create_user(s, DEMO_USER, password, "admin", actor="demo-run")
    var_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"username": DEMO_USER, "password": password}, fh)
    return DEMO_USER, password


@main.command("demo-run")
@click.option("--persons", type=click.IntRange(10), default=2000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
              show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Stop after the reconciliation.")
def demo_run(persons: int, seed: int, out_dir: Path, port: int, no_serve: bool) -> None:
    """Demo data set, reconciliation, and the steward UI on http://127.0.0.1:PORT."""
    from ..demo_data import generate

    manifest = out_dir / "manifest.json"
    fresh = not manifest.exists()
    if not fresh:
        info = json.loads(manifest.read_text(encoding="utf-8"))
        fresh = info.get("persons") != persons or info.get("seed") != seed
    if fresh:
        counts = generate(out_dir, persons=persons, seed=seed)
        click.echo(f"demo data: {sum(counts.values())} records of {persons} persons in {out_dir}")
    config = load_config(out_dir / "mdm.toml")
    store = Store(config.database_url)
    store.upgrade()
    report = reconcile(store, config)
    write_report_files(report, config.var_dir / "reports")
    for line in summary_lines(report):
        click.echo(line)
    username, password = _demo_login(store, config.var_dir)
    store.dispose()
    if no_serve:
        click.echo(f"demo login: {username} / {password}")
        return
    from stewardship_ui.serve import run

    os.environ["MDM_DEV"] = "1"  # plain HTTP on localhost: the session cookie may not be Secure-only
    os.environ["MDM_CONFIG"] = str(config.path)
    click.echo(f"steward UI: http://127.0.0.1:{port}/  login: {username} / {password}  (Ctrl-C stops)")
    run(config, host="127.0.0.1", port=port, workers=2)
