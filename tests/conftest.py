"""Shared fixtures: a fresh store per test, on SQLite and (when reachable) PostgreSQL.

PostgreSQL tests use ``MDM_TEST_POSTGRES_URL`` (CI sets it); each test gets its
own schema, dropped afterwards, so tests never see each other's rows. Without
the variable, or without a reachable server, they skip with the reason; with
``MDM_REQUIRE_POSTGRES=1`` (CI) an unreachable server fails instead of skipping.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mdm.store import Store

PG_URL = os.environ.get("MDM_TEST_POSTGRES_URL")


def _pg_unavailable_reason() -> str | None:
    if not PG_URL:
        return "MDM_TEST_POSTGRES_URL is not set (CI sets it; see .ci/run)"
    try:
        engine = create_engine(make_url(PG_URL).set(drivername="postgresql+psycopg"))
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        if os.environ.get("MDM_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not reachable at {PG_URL}: {exc}")
        return f"PostgreSQL not reachable at {PG_URL}: {exc.__class__.__name__}"
    return None


_PG_REASON: str | None | bool = False  # False = not checked yet


def pg_reason() -> str | None:
    global _PG_REASON
    if _PG_REASON is False:
        _PG_REASON = _pg_unavailable_reason()
    return _PG_REASON  # type: ignore[return-value]


@contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema, dropped afterwards (skips without PostgreSQL)."""
    reason = pg_reason()
    if reason:
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(PG_URL).set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh, empty schema (dropped after the test)."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mdm.sqlite'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store at the head revision, on each backend."""
    st = Store(db_url)
    st.upgrade()
    yield st
    st.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    st = Store(f"sqlite:///{tmp_path / 'mdm.sqlite'}")
    st.upgrade()
    yield st
    st.dispose()
