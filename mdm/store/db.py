"""Engine creation and schema migrations for SQLite and PostgreSQL."""
from __future__ import annotations

import functools
import json
import select
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal

import orjson
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_CACHE_KIB = 65536


def _sqlite_pragmas(dbapi_conn, _record, cache_kib: int = 0) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    # WAL lets the API read while a reconciliation writes; foreign keys are off by default.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    # SQLite's default page cache is 2 MB. A reconciliation inserts millions of index entries in
    # random key order (identifiers, features, links, history); with 64 MB they mostly find their
    # page in the cache: inserting 400,000 feature rows with their 7 indexes took 10 s instead of 21.
    # Allocated as used, per connection; the web app, with a pool of connections that only
    # look things up, asks for less (``Store(sqlite_cache_kib=...)``).
    cur.execute(f"PRAGMA cache_size=-{int(cache_kib or SQLITE_CACHE_KIB)}")
    cur.close()


def _server_hung_up(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Checkout check without a round trip: an idle connection has nothing to read.

    When the server ends a session (restart, ``idle_session_timeout``,
    ``pg_terminate_backend``) it sends an error and closes the socket, which
    then polls readable; raising DisconnectionError makes the pool drop the
    connection and check out another (SQLAlchemy's documented pessimistic
    pattern). It does not see a peer that vanished without closing (a network
    partition) - neither does ``SELECT 1`` before its TCP timeout.
    """
    if dbapi_conn.closed or getattr(dbapi_conn, "broken", False):
        raise DisconnectionError("the connection is closed")
    readable, _, _ = select.select([dbapi_conn.fileno()], [], [], 0)
    if readable:
        raise DisconnectionError("the server closed the connection")


def connection_alive(conn: Connection) -> bool:
    """The socket check of :func:`_server_hung_up` for a connection kept out of the pool (PostgreSQL).

    False for an invalidated or closed connection; other databases: True.
    """
    if conn.closed or conn.invalidated:
        return False
    if conn.dialect.name != "postgresql":
        return True
    try:
        _server_hung_up(conn.connection.driver_connection, None, None)
    except DisconnectionError:
        return False
    return True


Liveness = Literal["query", "socket"]


def json_text(value: Any) -> str:
    """How JSON columns are written: orjson, several times faster than ``json.dumps``.

    A reconciliation writes gigabytes of JSON (standardised records, explanations,
    history), and SQLAlchemy's default encoder was a sixth of a run's time. Other
    than ``json.dumps``: no ASCII escaping (the text is UTF-8), NaN becomes null
    (PostgreSQL's jsonb has no NaN either), and dict keys that are not strings
    are written as strings, as ``json.dumps`` does.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except TypeError:  # what orjson refuses (integers beyond 64 bits, lone surrogates, numpy scalars)
        return json.dumps(value)


def json_value(text: str | bytes) -> Any:
    """How JSON columns are read: orjson, or the standard library for what it refuses (NaN)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def make_engine(url: str, *, liveness: Liveness = "query", sqlite_cache_kib: int = 0,  # type: ignore[no-untyped-def]
                **kw) -> Engine:
    """An engine for ``url``; on PostgreSQL, pooled connections are checked at checkout.

    ``liveness="query"``: a ``SELECT 1`` round trip (SQLAlchemy's pre-ping);
    ``"socket"``: a poll of the socket, no round trip (:func:`_server_hung_up`),
    for the web app, where the round trip is a tenth of a lookup's time.
    """
    # SQL parameters hold HETUs: never let an error message or a traceback print them.
    kw.setdefault("hide_parameters", True)
    kw.setdefault("json_serializer", json_text)
    kw.setdefault("json_deserializer", json_value)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kw)
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, cache_kib=sqlite_cache_kib))
        return engine
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver we depend on; plain postgresql:// means it.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if liveness == "socket":
        engine = create_engine(url, **kw)
        event.listen(engine, "checkout", _server_hung_up)
        return engine
    return create_engine(url, pool_pre_ping=True, **kw)


def url_for_workers(engine: Engine) -> str | None:
    """The database URL for another process, or None when no other process can open it."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None  # a private in-memory database
    return url.render_as_string(hide_password=False)


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


class Store:
    """One database: engine, sessions and migrations."""

    def __init__(self, url: str, *, liveness: Liveness = "query", sqlite_cache_kib: int = 0) -> None:
        self.url = url
        self.liveness: Liveness = liveness
        self.sqlite_cache_kib = sqlite_cache_kib
        self.engine = make_engine(url, liveness=liveness, sqlite_cache_kib=sqlite_cache_kib)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit_engine: Engine | None = None

    @property
    def autocommit_engine(self) -> Engine:
        """A second pool whose connections stay in autocommit, made on first use.

        For statements that are each a whole transaction (the REST API's reads
        and their access-log rows): no BEGIN/COMMIT round trips, and no
        switching a pooled connection into autocommit and back at every
        checkout. Never for work that needs a transaction.
        """
        if self._autocommit_engine is None:
            # No transaction is ever left open here, so nothing to roll back on return.
            self._autocommit_engine = make_engine(self.url, liveness=self.liveness, isolation_level="AUTOCOMMIT",
                                                  pool_reset_on_return=None, sqlite_cache_kib=self.sqlite_cache_kib)
        return self._autocommit_engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        with self.sessions() as s:
            with s.begin():
                yield s

    def upgrade(self, revision: str = "head") -> None:
        try:
            command.upgrade(alembic_config(self.engine), revision)
        except OperationalError as exc:
            raise StoreError(f"cannot reach the database: {exc.orig}") from None

    def downgrade(self, revision: str = "base") -> None:
        command.downgrade(alembic_config(self.engine), revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(alembic_config(self.engine)).get_current_head()

    def check_current(self) -> None:
        """Refuse to work on a database whose schema is not at the head revision."""
        try:
            current = self.current_revision()
        except OperationalError as exc:
            raise StoreError(f"cannot reach the database: {exc.orig}") from None
        head = self.head_revision()
        if current != head:
            raise StoreError(
                f"the database schema is at {current or 'nothing'}, not {head}: run `mdm db upgrade`"
            )

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._autocommit_engine is not None:
            self._autocommit_engine.dispose()
