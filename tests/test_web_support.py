"""Fixtures and data builders shared by the web/API tests (flaskr style: app, client, runner).

Imported by tests/test_api_*.py, test_web_*.py and test_accounts.py with
``from test_web_support import *``; it holds no tests itself. The ``app`` is
built on the parametrised ``store`` fixture of conftest.py, so every test runs
on SQLite and on PostgreSQL.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from mdm.cli import main
from mdm.services import accounts
from mdm.store import Store
from mdm.store import models as m
from rules.hetu import CHECK_ALPHABET
from stewardship_ui import create_app

__all__ = [
    "ACCESS_KEY", "MdmRunner", "Seeder", "World", "app", "client", "hetu", "make_key", "runner", "seed_world",
    "world", "bearer",
]

ACCESS_KEY = b"test-access-log-key"


def hetu(ddmmyy: str, sign: str, individual: str) -> str:
    """A HETU with its correct check character."""
    return f"{ddmmyy}{sign}{individual}{CHECK_ALPHABET[int(ddmmyy + individual) % 31]}"


@pytest.fixture
def app(store: Store, tmp_path: Path) -> Iterator[Flask]:
    application = create_app({
        "TESTING": True,
        "MDM_STORE": store,
        "VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "test-secret-key",
        "ACCESS_LOG_KEY": ACCESS_KEY,
        # Revocation must show at once in tests; production caches for seconds.
        "CLIENT_CACHE_SECONDS": 0,
        # As under `mdm serve` (sync workers); the per-request connection has its own tests.
        "API_KEEP_CONNECTION": True,
    })
    yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class MdmRunner:
    """Runs the ``mdm`` command line against the test store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def invoke(self, args: list[str], input: str | None = None) -> Result:
        url = self.store.engine.url.render_as_string(hide_password=False)
        return CliRunner().invoke(main, args, input=input, env={"MDM_DATABASE_URL": url})


@pytest.fixture
def runner(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MdmRunner:
    monkeypatch.chdir(tmp_path)  # no stray mdm.toml
    return MdmRunner(store)


def make_key(store: Store, scopes: str = "all", name: str | None = None, rate: int = 6000) -> str:
    with store.session() as s:
        return accounts.create_client(s, name or f"client-{scopes}", accounts.parse_scopes(scopes),
                                      rate_limit_per_minute=rate)


def bearer(key: str, purpose: str | None = "testing") -> dict[str, str]:
    h = {"Authorization": f"Bearer {key}"}
    if purpose:
        h["X-Purpose"] = purpose
    return h


def _attrs(**values: Any) -> dict[str, Any]:
    return {k: {"value": v, "source": "library", "source_record_id": 1, "rule": "test"} for k, v in values.items()}


@dataclass
class World:
    """Ids and values of the seeded test population."""

    mother_hetu: str = "131052-308T"
    y_hetu: str = "131052Y308T"  # same digits, another century sign: another person
    temp_dash: str = "100190-999P"
    temp_y: str = "100190Y999P"
    secret_hetu: str = hetu("240385", "-", "123")
    phone: str = "+358401234567"


class Seeder:
    def __init__(self, s: Any) -> None:
        self.s = s
        self.sources: dict[str, int] = {}

    def source(self, name: str, connector: str) -> None:
        src = m.SourceSystem(name=name, connector=connector)
        self.s.add(src)
        self.s.flush()
        self.sources[name] = src.id

    def golden(self, gid: str, status: str = "active", redirect_to: str | None = None, **attrs: Any) -> None:
        self.s.add(m.GoldenRecord(id=gid, status=status, redirect_to=redirect_to, attributes=_attrs(**attrs)))
        self.s.flush()

    def record(self, gid: str | None, source: str, source_id: str, *identifiers: tuple[str, str, str],
               deleted: bool = False) -> int:
        rec = m.SourceRecord(
            source_system_id=self.sources[source], source_id=source_id, standardised={}, raw={},
            content_hash="x" * 64, deleted_at=datetime.now(timezone.utc) if deleted else None,
        )
        self.s.add(rec)
        self.s.flush()
        for type_, value, quality in identifiers:
            self.s.add(m.Identifier(source_record_id=rec.id, type=type_, value=value, raw_value=value,
                                    quality=quality))
        if gid is not None:
            self.s.add(m.GoldenLink(source_record_id=rec.id, golden_id=gid))
        self.s.flush()
        return rec.id


def seed_world(store: Store) -> World:
    w = World()
    address = {"street": "Aurakatu 1 A 2", "postal_code": "20100", "city": "Turku", "municipality": "853"}
    with store.session() as s:
        d = Seeder(s)
        d.source("library", "koha-csv")
        d.source("transit", "foli-csv")
        d.source("health", "fhir-ndjson")
        d.golden("g-mother", given_names="Anna Maria", calling_name="Anna", family_name="Virtanen",
                 birth_date="1952-10-13", sex="female", hetu=w.mother_hetu, phone=w.phone,
                 email="anna@example.fi", address=address, turvakielto=False)
        d.record("g-mother", "library", "L1", ("hetu", w.mother_hetu, "valid"), ("phone", w.phone, "valid"),
                 ("email", "anna@example.fi", "valid"), ("library_card", "L1001", "valid"))
        d.record("g-mother", "health", "H1", ("kela_card", w.mother_hetu, "valid"),
                 ("phone", "+358409999999", "valid"))
        d.record("g-mother", "transit", "T1", ("transit_card", "F123", "valid"))
        d.record("g-mother", "library", "L3", ("library_card", "L9999", "valid"), deleted=True)
        d.golden("g-child", given_names="Aino", family_name="Virtanen", birth_date="2015-05-01", sex="female")
        d.record("g-child", "library", "L2", ("phone", w.phone, "valid"), ("library_card", "L1002", "valid"))
        s.add(m.GoldenRelation(type="guardian_of", subject_golden_id="g-mother", object_golden_id="g-child"))
        d.golden("g-y", given_names="Ykä", family_name="Uusi", hetu=w.y_hetu)
        d.record("g-y", "library", "L4", ("hetu", w.y_hetu, "valid"))
        d.golden("g-temp-dash", family_name="Tilapäinen")
        d.record("g-temp-dash", "health", "H2", ("temporary_id", w.temp_dash, "temporary"))
        d.golden("g-temp-y", family_name="Väliaikainen")
        d.record("g-temp-y", "library", "L5", ("hetu", w.temp_y, "temporary"))
        d.golden("g-secret", given_names="Salla", family_name="Salainen", hetu=w.secret_hetu,
                 phone="+358501112222", email="salla@example.fi", address=address, turvakielto=True)
        d.record("g-secret", "library", "L6", ("hetu", w.secret_hetu, "valid"),
                 ("phone", "+358501112222", "valid"), ("email", "salla@example.fi", "valid"))
        d.golden("g-health-only", family_name="Potilas")
        d.record("g-health-only", "health", "H3", ("phone", "+358405550000", "valid"))
        # A merge chain old1 -> old2 -> mother, a retired record and a merge into it.
        d.golden("g-old2", status="merged", redirect_to="g-mother")
        d.golden("g-old1", status="merged", redirect_to="g-old2")
        d.golden("g-retired", status="retired")
        d.golden("g-into-retired", status="merged", redirect_to="g-retired")
    return w


@pytest.fixture
def world(store: Store) -> World:
    return seed_world(store)
