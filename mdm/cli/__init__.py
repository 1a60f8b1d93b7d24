"""The ``mdm`` command line.

A user error (bad configuration, unreachable database, refused input) prints one
line to stderr and exits non-zero; a traceback means a bug.
"""
from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from .. import __version__
from ..errors import MdmError


#: Command name -> the module under mdm.cli that defines it. Modules are imported
#: only when their command runs: ``mdm reconcile`` then loads neither Flask nor the
#: demo generator, and neither does each worker process a reconciliation spawns
#: (a spawned worker re-runs the ``mdm`` script's imports before its task).
COMMAND_MODULES = {
    "db": "db_commands", "status": "db_commands",
    "demo-run": "demo_commands",
    "export": "export_commands",
    "pull": "pull_commands", "demo-data": "pull_commands",
    "reconcile": "reconcile_commands", "train": "reconcile_commands", "evaluate": "reconcile_commands",
    "steward": "steward_commands",
    "users": "web_commands", "clients": "web_commands", "serve": "web_commands",
}


class MdmGroup(click.Group):
    """A click group that turns :class:`MdmError` into one clear line and loads commands on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            # The module registers its commands on ``main`` when imported.
            importlib.import_module(f"{__name__}.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MdmError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=MdmGroup)
@click.version_option(__version__, prog_name="mdm")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """PAT-MDM: master data and identity resolution for the city's registers."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # Alembic and Splink narrate every step at INFO; operators want our lines only.
        for name in ("alembic", "splink"):
            logging.getLogger(name).setLevel(logging.WARNING)

