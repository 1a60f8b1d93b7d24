"""The store behind the app: one :class:`Store` (engine and pool) per app, one session per request."""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from mdm.store import Store


def init_app(app: Flask, store: Store | None = None) -> None:
    store = store or Store(app.config["DATABASE_URL"])
    # SQLAlchemy logs statement parameters at INFO/DEBUG and puts them in error
    # messages; a lookup's parameters are HETUs, which must never reach a log.
    store.engine.hide_parameters = True
    app.extensions["mdm_store"] = store
    app.teardown_appcontext(close_db)


def get_store() -> Store:
    return current_app.extensions["mdm_store"]  # type: ignore[no-any-return]


def get_db() -> Session:
    """The request's session (created on first use; closed, and so rolled back if not committed, at teardown)."""
    if "db" not in g:
        g.db = get_store().sessions()
    return g.db  # type: ignore[no-any-return]


def close_db(_exc: BaseException | None = None) -> None:
    s = g.pop("db", None)
    if s is not None:
        s.close()
