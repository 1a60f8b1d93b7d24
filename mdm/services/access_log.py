"""The access log: who looked up whom, through which client, for what purpose.

Required for social and health data (Information Management Act 906/2019,
Client Data Act 703/2023). The looked-up identifier is never written in
clear: ``identifier_digest`` is an HMAC-SHA256 of the *normalised* value under
a secret key, so an auditor holding the key can answer "was this HETU looked
up, by whom, when" by computing the digest of the HETU in question, while a
leaked log alone reveals nothing (a plain hash of a HETU could be reversed by
enumerating the few hundred million possible codes).
"""
from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import Connection, insert, text
from sqlalchemy.orm import Session

from ..store import models as m
from ..store.models import utcnow
from . import hot_sql

ACCESS_LOG_KEY_FILE = "access_log.key"
PURPOSE_MAX = 200  # access_log.purpose


def identifier_digest(key: bytes, normalised_value: str) -> str:
    """HMAC-SHA256 (hex) of a normalised identifier value.

    The type is deliberately not part of the digest: a HETU and the Kela card
    carrying it are the same value, and the auditor searches by value.
    """
    # hmac.digest: the one-shot C implementation (same bytes as hmac.new(...).digest()).
    return hmac.digest(key, normalised_value.encode("utf-8"), "sha256").hex()


def clean_purpose(purpose: str | None) -> str | None:
    """The ``X-Purpose`` header, without control characters, cut to the column size."""
    if not purpose:
        return None
    # Every API request carries one; a printable one (the usual case) needs no filtering.
    text = purpose if purpose.isprintable() else "".join(ch for ch in purpose if ch.isprintable())
    return text.strip()[:PURPOSE_MAX] or None


def access_row(
    *,
    endpoint: str,
    status_code: int,
    client_name: str | None = None,
    username: str | None = None,
    purpose: str | None = None,
    identifier_type: str | None = None,
    identifier_digest: str | None = None,
    golden_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """The column values of one access-log row (both writers below write exactly these)."""
    return {
        "client_name": client_name,
        "username": username,
        "endpoint": endpoint[:100],
        "purpose": clean_purpose(purpose),
        "identifier_type": identifier_type,
        "identifier_digest": identifier_digest,
        "golden_ids": list(golden_ids),
        "status_code": status_code,
        "created_at": utcnow(),
    }


def record_access(s: Session, **fields: Any) -> m.AccessLogEntry:
    """Add the row to the session's transaction (the UI, and API requests that write anyway)."""
    entry = m.AccessLogEntry(**access_row(**fields))
    s.add(entry)
    return entry


_TABLE = m.AccessLogEntry.__table__
COLUMNS = ("client_name", "username", "endpoint", "purpose", "identifier_type", "identifier_digest",
           "golden_ids", "status_code", "created_at")
_INSERT = insert(_TABLE)
# PostgreSQL: the same insert, committed asynchronously. set_config(..., true)
# is local to the statement's own transaction (the connection is in
# autocommit), so it changes nothing else. The trade-off: the answer does not
# wait for the WAL flush of its log row (an fsync, milliseconds); the row is
# written at once and is durable within about three wal_writer_delay (600 ms
# by default). Only a crash of the database server itself in that window
# loses it - an application crash or a failed insert cannot, because the
# answer is withheld unless the insert succeeded.
_INSERT_PG = text(
    "WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)) "
    f"INSERT INTO access_log ({', '.join(COLUMNS)}) "
    f"SELECT {', '.join(':' + c for c in COLUMNS)} FROM async_commit"
)
_CORRECT_PG = text(
    "WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)) "
    "UPDATE access_log SET status_code = :status_code, golden_ids = :golden_ids FROM async_commit WHERE id = :id"
)


@dataclass
class PendingAccess:
    """An access-log row that the read statement itself may write (PostgreSQL; see lookup.py).

    ``fields`` are :func:`access_row` values except ``golden_ids`` and
    ``status_code``, which the statement derives from what it found (200 with
    the ids, or 404 with none). When it wrote the row, ``row_id`` and
    ``golden_ids`` say what it wrote; the caller corrects the row with
    :func:`correct_access` if its answer turned out otherwise.
    """

    fields: dict[str, Any]
    row_id: int | None = None
    golden_ids: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, *, endpoint: str, client_name: str | None = None, username: str | None = None,
           purpose: str | None = None, identifier_type: str | None = None,
           identifier_digest: str | None = None) -> PendingAccess:
        """From the :func:`access_row` arguments but ``status_code`` and ``golden_ids`` (the same values)."""
        return cls({
            "client_name": client_name, "username": username, "endpoint": endpoint[:100],
            "purpose": clean_purpose(purpose), "identifier_type": identifier_type,
            "identifier_digest": identifier_digest, "created_at": utcnow(),
        })

    @property
    def status_code(self) -> int:
        return 200 if self.golden_ids else 404


def write_access(conn: Connection, **fields: Any) -> None:
    """Insert the row at once on an autocommit connection (the API's read endpoints).

    One statement, one round trip, no transaction around it. Raises if the row
    was not written; the caller then withholds its answer.
    """
    row = access_row(**fields)
    if conn.dialect.name == "postgresql":
        from psycopg.types.json import Jsonb  # psycopg is the optional PostgreSQL extra

        row["golden_ids"] = Jsonb(row["golden_ids"])  # what the column type's bind processor would do
        hot_sql.execute(conn, _INSERT_PG, row)
    else:
        conn.execute(_INSERT, row)


def correct_access(conn: Connection, row_id: int, *, status_code: int, golden_ids: Sequence[str]) -> None:
    """Set the status and golden ids of a row a read statement wrote (PostgreSQL only, as that writer)."""
    from psycopg.types.json import Jsonb

    hot_sql.execute(conn, _CORRECT_PG,
                    {"id": row_id, "status_code": status_code, "golden_ids": Jsonb(list(golden_ids))})


def load_or_create_key(path: Path, env_var: str | None = None, *, nbytes: int = 32) -> bytes:
    """A secret key from ``env_var`` or from ``path``, created once (mode 0600).

    Safe when several processes (gunicorn workers) start at once: the key is
    written to a private temporary file and hard-linked into place, which
    fails if another process won the race; then everyone reads the winner's.
    """
    if env_var and os.environ.get(env_var):
        return os.environ[env_var].encode("utf-8")
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(nbytes) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()
