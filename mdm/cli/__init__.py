"""The ``mdm`` command line.

A user error (bad configuration, unreachable database, refused input) prints one
line to stderr and exits non-zero; a traceback means a bug.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

import click

from .. import __version__
from ..errors import MdmError


class MdmGroup(click.Group):
    """A click group that turns :class:`MdmError` into one clear line."""

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


def _register() -> None:
    # Subcommand modules register themselves on ``main`` when imported.
    from . import (  # noqa: F401
        db_commands,
        demo_commands,
        export_commands,
        pull_commands,
        reconcile_commands,
        steward_commands,
        web_commands,
    )


_register()
