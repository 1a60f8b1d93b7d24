"""Indexes of empty tables deferred around bulk inserts (mdm/store/bulk.py): the schema always comes back."""
from __future__ import annotations

import pytest
from sqlalchemy import insert, inspect, text

from mdm.store import Store
from mdm.store import models as m
from mdm.store.bulk import indexes_deferred


WRITE = text("UPDATE golden_record SET id = id WHERE 1 = 0")


def _indexes(store: Store) -> dict[str, list[tuple[str, list[str]]]]:
    insp = inspect(store.engine)
    return {t: sorted((i["name"], list(i["column_names"])) for i in insp.get_indexes(t))
            for t in ("change_event", "match_feature", "audit_event")}


def _sqlite_index_sql(store: Store) -> list[tuple[str, str]]:
    with store.engine.connect() as c:
        return c.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name").all()


def _event_row(gid: str) -> dict:
    return {"golden_id": gid, "event_type": "created", "payload": {}, "created_at": m.utcnow()}


def test_empty_tables_lose_their_indexes_inside_the_block_and_get_the_same_ones_back(sqlite_store):
    before, sql_before = _indexes(sqlite_store), _sqlite_index_sql(sqlite_store)
    assert before["match_feature"] and before["change_event"]
    with sqlite_store.session() as s:
        s.execute(insert(m.AuditEvent.__table__), [{"actor": "t", "action": "x", "details": {}}])
    with sqlite_store.session() as s:
        s.execute(WRITE)  # a write transaction, as a reconciliation's golden stage has
        with indexes_deferred(s, ("change_event", "match_feature", "audit_event")) as dropped:
            names = {r[0] for r in s.connection().exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index'").all()}
            assert set(dropped) == {n for n, _c in before["change_event"] + before["match_feature"]}
            assert not set(dropped) & names
            assert {n for n, _c in before["audit_event"]} <= names  # not empty: untouched
            s.execute(insert(m.ChangeEvent.__table__), [_event_row(f"g{i}") for i in range(100)])
        # The index is back and holds the rows inserted without it.
        assert s.execute(text("SELECT count(*) FROM change_event INDEXED BY ix_change_event_golden_id "
                              "WHERE golden_id = 'g7'")).scalar() == 1
    assert _indexes(sqlite_store) == before and _sqlite_index_sql(sqlite_store) == sql_before


def test_a_transaction_that_fails_inside_the_block_leaves_schema_and_rows_as_they_were(sqlite_store):
    sql_before = _sqlite_index_sql(sqlite_store)
    with pytest.raises(RuntimeError):
        with sqlite_store.session() as s:
            s.execute(WRITE)
            with indexes_deferred(s, ("change_event",)) as dropped:
                assert dropped
                s.execute(insert(m.ChangeEvent.__table__), [_event_row("g1")])
                raise RuntimeError("killed")
    assert _sqlite_index_sql(sqlite_store) == sql_before
    with sqlite_store.engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM change_event").scalar() == 0


def test_outside_a_write_transaction_nothing_is_dropped(sqlite_store):
    # DDL before the first write would commit at once in SQLite's driver: not done.
    with sqlite_store.sessions() as s:
        with indexes_deferred(s, ("golden_history",)) as dropped:
            assert dropped == []


@pytest.mark.postgres
def test_postgresql_keeps_its_indexes(pg_schema_url):
    store = Store(pg_schema_url)
    store.upgrade()
    try:
        before = _indexes(store)
        with store.session() as s:
            s.execute(text("SELECT 1"))
            with indexes_deferred(s, ("golden_history",)) as dropped:
                assert dropped == []
                assert _indexes(store) == before
    finally:
        store.dispose()


def test_a_first_and_a_full_reconciliation_leave_the_schema_as_the_migrations_made_it(tmp_path, monkeypatch):
    from contextlib import contextmanager

    from mdm.config import load_config
    from mdm.services import events, golden, matching
    from mdm.services.reconcile import reconcile
    from test_reconcile_support import demo_source, seed_model

    store = Store(f"sqlite:///{tmp_path / 'mdm.sqlite'}")
    store.upgrade()
    schema = _sqlite_index_sql(store)
    seed_model(store)
    cfg = load_config(demo_source() / "mdm.toml")
    cfg.var_dir = tmp_path / "var"
    deferred: list[list[str]] = []

    @contextmanager
    def spy(session, tables):  # type: ignore[no-untyped-def]
        with indexes_deferred(session, tables) as dropped:
            deferred.append(dropped)
            yield dropped

    for module in (events, golden, matching):
        monkeypatch.setattr(module, "indexes_deferred", spy)
    for full in (False, True):  # the first run fills empty tables; a full one empties and refills them
        report = reconcile(store, cfg, full=full)
        assert report["status"] == "succeeded" and report["golden"]["history_rows"] >= 0
        assert _sqlite_index_sql(store) == schema
        dropped = {name for names in deferred for name in names}
        deferred.clear()
        # Both runs write match features and state into emptied tables; only the first finds history empty.
        assert {"ix_match_feature_names", "ix_match_edge_right_record_id"} <= dropped
        assert ("ix_golden_history_golden_id_id" in dropped) is (not full)
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert c.exec_driver_sql("SELECT count(*) FROM match_feature").scalar() > 300
    store.dispose()
