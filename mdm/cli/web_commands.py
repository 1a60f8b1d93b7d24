"""``mdm users ...``, ``mdm clients ...`` and ``mdm serve``."""
from __future__ import annotations

import getpass
import os
import sys

import click
from sqlalchemy import select

from ..errors import MdmError
from ..services import accounts
from ..store import models as m
from . import main
from ._options import open_store, with_config


def _actor() -> str:
    # Audit rows name who ran the command; the OS user is the best we know.
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


@main.group()
def users() -> None:
    """Steward UI users."""


@users.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(accounts.ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (first line).")
@with_config
def users_create(config, name: str, role: str, password_stdin: bool) -> None:  # type: ignore[no-untyped-def]
    """Create a user with a role: viewer, steward or admin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = open_store(config)
    with store.session() as s:
        accounts.create_user(s, name, password, role, actor=_actor())
    click.echo(f"user {name} created ({role})")


@users.command("disable")
@click.argument("name")
@with_config
def users_disable(config, name: str) -> None:  # type: ignore[no-untyped-def]
    """Disable a user (logged out at the next request)."""
    store = open_store(config)
    with store.session() as s:
        accounts.disable_user(s, name, actor=_actor())
    click.echo(f"user {name} disabled")


@users.command("list")
@with_config
def users_list(config) -> None:  # type: ignore[no-untyped-def]
    """List users."""
    store = open_store(config)
    with store.session() as s:
        for u in s.scalars(select(m.AppUser).order_by(m.AppUser.username)):
            click.echo(f"{u.username}\t{u.role}\t{'disabled' if u.disabled else 'active'}")


@main.group()
def clients() -> None:
    """REST API clients (source systems) and their keys."""


@clients.command("create")
@click.argument("name")
@click.option("--scopes", "scope_text", required=True, help=accounts.SCOPE_HELP)
@click.option("--rate-limit", type=click.IntRange(1), default=6000, show_default=True,
              help="Requests a minute (per server worker).")
@click.option("--source", default=None, help="The source system this client is (optional).")
@with_config
def clients_create(config, name: str, scope_text: str, rate_limit: int, source: str | None) -> None:  # type: ignore[no-untyped-def]
    """Create an API client; its key is printed once, alone on the last line."""
    scopes = accounts.parse_scopes(scope_text)
    store = open_store(config)
    with store.session() as s:
        key = accounts.create_client(s, name, scopes, rate_limit_per_minute=rate_limit, source=source,
                                     actor=_actor())
    click.echo(f"API client {name} created with scopes {scopes.words()}")
    click.echo("Its key follows; it is shown only this once (only a hash is stored):")
    click.echo(key)


@clients.command("revoke")
@click.argument("name")
@with_config
def clients_revoke(config, name: str) -> None:  # type: ignore[no-untyped-def]
    """Revoke an API client's key (refused within seconds by running servers)."""
    store = open_store(config)
    with store.session() as s:
        accounts.revoke_client(s, name, actor=_actor())
    click.echo(f"API client {name} revoked")


@clients.command("list")
@with_config
def clients_list(config) -> None:  # type: ignore[no-untyped-def]
    """List API clients and their scopes."""
    store = open_store(config)
    with store.session() as s:
        for c in s.scalars(select(m.ApiClient).order_by(m.ApiClient.name)):
            state = "revoked" if c.revoked_at else "active"
            click.echo(f"{c.name}\t{state}\t{accounts.Scopes.from_json(c.scopes).words()}\t"
                       f"{c.rate_limit_per_minute}/min")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True)
@click.option("--dev", is_flag=True, help="Development: session cookie also over plain HTTP.")
@with_config
def serve(config, host: str, port: int, workers: int, dev: bool) -> None:  # type: ignore[no-untyped-def]
    """Run the steward UI and the REST API under gunicorn."""
    from stewardship_ui.serve import run

    # Fail here with one line, not in every worker with a traceback.
    open_store(config).dispose()
    if dev:
        os.environ["MDM_DEV"] = "1"
    try:
        run(config, host=host, port=port, workers=workers)
    except OSError as exc:
        raise MdmError(f"cannot serve on {host}:{port}: {exc}") from None
