"""Running the REST API's two per-request statements with as little Python as possible.

A lookup is one read and one access-log insert, each a single round trip to
PostgreSQL. SQLAlchemy's execution layer (execution context, result metadata,
row processing) costs about 45 µs of CPU per statement here - as much as
PostgreSQL's own work on the read - so on PostgreSQL these fixed statements go
to the psycopg cursor of the same connection: compiled by SQLAlchemy once per
statement, prepared server-side by psycopg after a few runs. Elsewhere
(SQLite: tests, a laptop) they run through SQLAlchemy as usual.

What is given up: SQLAlchemy's statement logging and its wrapping of driver
errors. A broken connection still never gets reused: the pool's checkout check
(``liveness`` in mdm/store/db.py) drops it. That check can lose a race - the
server may still be closing a terminated session's socket when it is polled -
so a statement that finds its autocommit session already gone is run once more
on a fresh connection: in autocommit one statement is its own transaction, and
a session the server ended ran none of it.

Each driver connection keeps one cursor for these statements: a new cursor
starts with empty adaptation caches (the dumper of each parameter, the loader
of each result column are looked up again), about 15 µs of a lookup here.
"""
from __future__ import annotations

from typing import Any, Sequence, Union

from sqlalchemy import Connection, TextClause
from sqlalchemy.orm import Session

#: What the services read through: the UI's ORM session or the API's plain connection
#: (only ``execute``/``scalar``/``scalars`` of column selects, and these two functions, are used).
Db = Union[Session, Connection]

_compiled: dict[int, tuple[TextClause, str]] = {}


def _connection(db: Db) -> Connection:
    return db if isinstance(db, Connection) else db.connection()


def on_postgresql(db: Db) -> bool:
    return _connection(db).dialect.name == "postgresql"


def _driver_sql(stmt: TextClause, conn: Connection) -> str:
    # Keyed by identity; the statement is kept in the entry so the id is never reused.
    hit = _compiled.get(id(stmt))
    if hit is None:
        hit = _compiled[id(stmt)] = (stmt, str(stmt.compile(dialect=conn.dialect)))
    return hit[1]


def rows(db: Db, stmt: TextClause, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
    """All rows of ``stmt`` (a module-level constant: compiled forms are cached for good)."""
    conn = _connection(db)
    if conn.dialect.name != "postgresql":
        return conn.execute(stmt, params).all()
    return _on_driver(conn, _driver_sql(stmt, conn), params, fetch=True)


def execute(db: Db, stmt: TextClause, params: dict[str, Any]) -> None:
    """Run ``stmt`` (no rows wanted); see :func:`rows`."""
    conn = _connection(db)
    if conn.dialect.name != "postgresql":
        conn.execute(stmt, params)
        return
    _on_driver(conn, _driver_sql(stmt, conn), params, fetch=False)


#: Server-side ends of a session (admin shutdown, crash shutdown, cannot connect now, idle timeout):
#: the server ran nothing of a statement it answers with one of these.
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P03", "57P05"})


_CURSOR = "_mdm_hot_sql_cursor"  # attribute of the psycopg connection holding its cursor


def _cursor(driver: Any) -> Any:
    """The driver connection's own cursor for these statements (made on first use)."""
    cur = getattr(driver, _CURSOR, None)
    if cur is None or cur.closed:
        cur = driver.cursor()
        setattr(driver, _CURSOR, cur)  # dropped with its connection (a cycle the collector frees)
    return cur


def _on_driver(conn: Connection, sql: str, params: dict[str, Any], *, fetch: bool) -> Any:
    for attempt in (1, 2):
        driver = conn.connection.driver_connection
        closed_before = driver.closed  # type: ignore[union-attr]
        try:
            cur = _cursor(driver)
            cur.execute(sql, params)
            return cur.fetchall() if fetch else None
        except Exception as exc:
            import psycopg  # PostgreSQL only; a SQLite install need not have it

            if not isinstance(exc, psycopg.OperationalError):
                raise
            # Only a session that was gone before the statement reached it, and only in
            # autocommit: a statement inside a transaction would lose its earlier ones, and a
            # connection lost mid-statement may have run it (an access-log row twice).
            gone = closed_before or getattr(exc, "sqlstate", None) in _SESSION_ENDED
            if attempt == 2 or not gone or not driver.closed or not driver.autocommit:  # type: ignore[union-attr]
                raise
            conn.invalidate()
            if conn.in_transaction():  # SQLAlchemy's autobegun marker, nothing on the server
                conn.rollback()
    raise AssertionError("unreachable")
