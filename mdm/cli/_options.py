"""Options shared by the subcommands."""
from __future__ import annotations

import functools
from typing import Any, Callable

import click

from ..config import Config, load_config
from ..store import Store


def with_config(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--config PATH`` and pass the loaded :class:`Config` as ``config``."""

    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        default=None,
        help="Configuration file (default: mdm.toml in the current folder, if present).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, config_path: str | None, **kwargs: Any) -> Any:
        return func(*args, config=load_config(config_path), **kwargs)

    return wrapper


def open_store(config: Config, *, check: bool = True) -> Store:
    """The configured store; by default refuses a schema that is not at head."""
    store = Store(config.database_url)
    if check:
        store.check_current()
    return store
