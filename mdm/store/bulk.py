"""Bulk writes into empty tables without keeping their indexes up to date row by row (SQLite).

A first or full reconciliation writes a million rows each into tables with
several indexes (match features have eight). Inserted in random key order, every
row lands on another page of every index; creating an index over rows already
there is one sort. Measured here: 400,000 feature rows with their seven
secondary indexes took 21 s inserted into the indexed table, 5 s inserted
first and indexed after.

So :func:`indexes_deferred` drops the secondary indexes of those of the given
tables that are empty when it starts, and creates them again, the same ones,
when it ends, all in the caller's transaction. SQLite's DDL is transactional:
a run killed in between rolls the drop back with everything else, and other
connections keep seeing the last committed schema, indexes included.

Only on SQLite. On PostgreSQL, DROP INDEX would lock the table against the
API's readers until the run commits. The indexes SQLite made itself for
UNIQUE constraints stay: they cannot be dropped, and they check the rows.
Nothing may read a deferred table by an indexed column inside the block
(it would scan); callers wrap only their inserts.
"""
from __future__ import annotations

from contextlib import contextmanager, suppress
from typing import Iterable, Iterator

from sqlalchemy.orm import Session


@contextmanager
def indexes_deferred(session: Session, tables: Iterable[str]) -> Iterator[list[str]]:
    """Within the block, the empty ones of ``tables`` have no secondary indexes; yields their index names."""
    conn = session.connection()
    driver = conn.connection.driver_connection
    # Only inside a write transaction (else the DDL would commit at once) and only on SQLite.
    if conn.dialect.name != "sqlite" or not getattr(driver, "in_transaction", False):
        yield []
        return
    saved: list[tuple[str, str]] = []
    for table in tables:
        if conn.exec_driver_sql(f'SELECT EXISTS (SELECT 1 FROM "{table}")').scalar():
            continue
        # Unique indexes stay: they check the rows as they come.
        saved += conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL "
            "AND upper(sql) NOT LIKE 'CREATE UNIQUE%' ORDER BY name", (table,)).all()
    try:
        for name, _sql in saved:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        yield [name for name, _sql in saved]
    except BaseException:
        # The transaction is being lost anyway; put back what was dropped if the connection still can.
        for _name, sql in saved:
            with suppress(Exception):
                conn.exec_driver_sql(sql.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
        raise
    for _name, sql in saved:
        conn.exec_driver_sql(sql)
