"""The store: migrations (one head, round trip) and the models on both backends."""
from __future__ import annotations

from datetime import date

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from mdm.errors import StoreError
from mdm.store import Store
from mdm.store import models as m
from mdm.store.db import alembic_config

EXPECTED_TABLES = {
    "source_system", "source_record", "source_record_version", "identifier", "source_relation",
    "quarantined_row", "golden_record", "golden_link", "golden_relation", "golden_history",
    "change_event", "attribute_override", "review_task", "steward_decision",
    "reconciliation_run", "audit_event", "access_log", "app_user", "api_client",
    "match_edge", "match_state", "matching_model", "match_feature",
}


def test_single_alembic_head(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'x.sqlite'}")
    heads = ScriptDirectory.from_config(alembic_config(store.engine)).get_heads()
    assert len(heads) == 1, heads


def test_upgrade_downgrade_round_trip(db_url):
    store = Store(db_url)
    store.upgrade()
    assert EXPECTED_TABLES <= set(store.table_names())
    assert store.current_revision() == store.head_revision()
    store.downgrade("base")
    assert set(store.table_names()) - {"alembic_version"} == set()
    assert store.current_revision() is None
    store.upgrade()  # and back up again: downgrade left nothing behind that blocks it
    assert EXPECTED_TABLES <= set(store.table_names())
    store.dispose()


def test_models_match_migrations(store):
    """Autogenerate against the migrated database finds nothing to add."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), m.Base.metadata)
    assert diff == []


def test_check_current_refuses_old_schema(db_url):
    store = Store(db_url)
    with pytest.raises(StoreError, match="mdm db upgrade"):
        store.check_current()
    store.dispose()


def _source_record(system, source_id="1", **kw):
    return m.SourceRecord(
        source_system=system, source_id=source_id, standardised={"names": []}, raw={"id": source_id},
        content_hash="h" * 64, **kw,
    )


def test_source_record_unique_per_source(store):
    with store.session() as s:
        lib = m.SourceSystem(name="library", connector="koha-csv")
        s.add_all([lib, _source_record(lib, "42")])
    with pytest.raises(IntegrityError):
        with store.session() as s:
            lib = s.scalars(select(m.SourceSystem)).one()
            s.add(m.SourceRecord(source_system_id=lib.id, source_id="42", standardised={}, raw={},
                                 content_hash="x"))


def test_record_identifiers_versions_and_links(store):
    with store.session() as s:
        lib = m.SourceSystem(name="library", connector="koha-csv")
        rec = _source_record(lib, "7")
        rec.identifiers = [
            m.Identifier(type="hetu", value="131052-308T", raw_value="131052-308t", quality="valid"),
            m.Identifier(type="library_card", value="A1", raw_value="a1", valid_from=date(2020, 1, 1)),
        ]
        gold = m.GoldenRecord(id="G-abc", attributes={"surname": {"value": "Virtanen", "source": "library"}})
        s.add_all([lib, rec, gold])
        s.flush()
        s.add(m.GoldenLink(source_record_id=rec.id, golden_id=gold.id, kind="auto", score=0.99,
                           explanation={"weights": {"hetu": 12.3}}))
        s.add(m.SourceRecordVersion(source_record_id=rec.id, version=1, content_hash="old",
                                    standardised={}, raw={}, valid_from=m.utcnow()))
    with store.session() as s:
        rec = s.scalars(
            select(m.SourceRecord).options(selectinload(m.SourceRecord.identifiers))
        ).one()
        assert {i.type for i in rec.identifiers} == {"hetu", "library_card"}
        hetu = s.scalars(select(m.Identifier).where(m.Identifier.type == "hetu",
                                                    m.Identifier.value == "131052-308T")).one()
        assert hetu.source_record_id == rec.id
        link = s.get(m.GoldenLink, rec.id)
        assert link.golden_id == "G-abc" and link.explanation["weights"]["hetu"] == 12.3
        assert s.scalar(select(func.count()).select_from(m.SourceRecordVersion)) == 1


def test_relationships_are_lazy_raise(store):
    with store.session() as s:
        lib = m.SourceSystem(name="library", connector="koha-csv")
        s.add_all([lib, _source_record(lib)])
    with store.session() as s:
        rec = s.scalars(select(m.SourceRecord)).one()
        with pytest.raises(Exception, match="lazy='raise'"):
            _ = rec.identifiers


def test_change_event_cursor_grows(store):
    with store.session() as s:
        for i in range(5):
            s.add(m.ChangeEvent(golden_id=f"G-{i}", event_type="created", payload={}))
    with store.session() as s:
        cursors = s.scalars(select(m.ChangeEvent.cursor).order_by(m.ChangeEvent.cursor)).all()
    assert cursors == sorted(set(cursors)) and len(cursors) == 5


def test_review_pair_must_be_ordered(store):
    with store.session() as s:
        lib = m.SourceSystem(name="library", connector="koha-csv")
        a, b = _source_record(lib, "a"), _source_record(lib, "b")
        s.add_all([lib, a, b])
    with pytest.raises(IntegrityError):
        with store.session() as s:
            ids = sorted(s.scalars(select(m.SourceRecord.id)).all())
            s.add(m.StewardDecision(left_record_id=ids[1], right_record_id=ids[0],
                                    kind="cannot_link", actor="t"))
    with pytest.raises(IntegrityError):
        with store.session() as s:
            s.add(m.StewardDecision(left_record_id=ids[0], right_record_id=ids[1],
                                    kind="maybe", actor="t"))
