"""The snapshot a nightly run starts from: exact round trip, refused when stale, never needed."""
from __future__ import annotations

import shutil

from sqlalchemy import select, update

from matching.features import frame_from_rows, record_features
from mdm.config import load_config
from mdm.services import match_cache
from mdm.services.match_inputs import feature_hashes, load_records
from mdm.services.reconcile import reconcile
from mdm.store import Store
from mdm.store import models as m
from rules.identity import load_match_rules, strong_value
from test_matching_incremental import _edit_exports, _partition, _review_pairs
from test_reconcile_support import copy_sqlite, counted_pools, private_demo


def _reconciled(tmp_path):
    demo = private_demo(tmp_path, persons=300, seed=5)
    store = Store(f"sqlite:///{tmp_path / 'mdm.sqlite'}")
    store.upgrade()
    config = load_config(demo / "mdm.toml")
    config.var_dir = tmp_path / "var"
    reconcile(store, config)
    return demo, store, config


def test_snapshot_round_trip_is_exact(tmp_path):
    _demo, store, config = _reconciled(tmp_path)
    rules = load_match_rules()
    with store.session() as s:
        records = list(load_records(s))
        run = match_cache.last_successful_run(s)
    frame = frame_from_rows([record_features(rid, src, std) for rid, src, std, _u in records])
    identity = {r.name: {rid: v for rid, _src, std, _u in records if (v := strong_value(std, r))}
                for r in rules.identity_rules}
    snap = match_cache.Snapshot(run, 7, frame, feature_hashes(frame), identity, {3: False, 4: True})
    path = match_cache.save(tmp_path / "snap", snap)
    # Personal data (HETUs among the features): for the service user only.
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    back = match_cache.load(tmp_path / "snap", run, 7, rules)
    assert back is not None
    assert list(back.frame.columns) == list(frame.columns)
    assert (back.frame.dtypes == frame.dtypes).all()
    assert back.frame.astype(str).equals(frame.astype(str))
    assert feature_hashes(back.frame) == snap.hashes == back.hashes
    assert back.identity_values == identity
    assert back.decisions == {3: False, 4: True}
    # Another run, another store at the same run id, another model or a broken file: not used.
    assert match_cache.load(tmp_path / "snap", (run[0] + 1, run[1]), 7, rules) is None
    assert match_cache.load(tmp_path / "snap", (run[0], "2020-01-01T00:00:00"), 7, rules) is None
    assert match_cache.load(tmp_path / "snap", run, 8, rules) is None
    match_cache.cache_path(tmp_path / "snap").write_bytes(b"not parquet")
    assert match_cache.load(tmp_path / "snap", run, 7, rules) is None
    store.dispose()


def test_a_lost_snapshot_only_costs_time(tmp_path):
    demo, store, config = _reconciled(tmp_path)
    assert match_cache.cache_path(config.var_dir).exists()
    _edit_exports(demo, seed=3)
    store.dispose()
    # The same store twice: one run with the snapshot, one after it was lost.
    lost = tmp_path / "lost"
    copy_sqlite(tmp_path / "mdm.sqlite", lost / "mdm.sqlite")
    shutil.copytree(config.var_dir, lost / "var")
    match_cache.cache_path(lost / "var").unlink()

    with_snap = Store(f"sqlite:///{tmp_path / 'mdm.sqlite'}")
    report = reconcile(with_snap, config)
    assert report["matching"]["clustered_records"] < report["matching"]["records"]

    without = Store(f"sqlite:///{lost / 'mdm.sqlite'}")
    config_lost = load_config(demo / "mdm.toml")
    config_lost.var_dir = lost / "var"
    report_lost = reconcile(without, config_lost)
    assert report_lost["matching"]["full"] is False
    assert report_lost["matching"]["clustered_records"] == report_lost["matching"]["records"]
    assert match_cache.cache_path(lost / "var").exists()  # written again

    assert _partition(with_snap) == _partition(without)
    assert _review_pairs(with_snap) == _review_pairs(without)
    with with_snap.session() as s, without.session() as t:
        ids = select(m.GoldenRecord.id, m.GoldenRecord.status, m.GoldenRecord.attributes).order_by(m.GoldenRecord.id)
        assert s.execute(ids).all() == t.execute(ids).all()
    with_snap.dispose()
    without.dispose()


def test_a_record_stored_by_match_on_entry_is_matched_once(tmp_path):
    _demo, store, config = _reconciled(tmp_path)
    with store.session() as s:
        rid = s.scalar(select(m.SourceRecord.id).order_by(m.SourceRecord.id.desc()).limit(1))
        # What /resolve with persist leaves behind: a record changed outside any run.
        s.execute(update(m.SourceRecord).where(m.SourceRecord.id == rid).values(changed_run_id=None))
    first = reconcile(store, config)
    assert first["matching"]["clustered_records"] > 0
    with store.session() as s:
        assert s.scalar(select(m.SourceRecord.changed_run_id).where(m.SourceRecord.id == rid)) == first["run_id"]
    second = reconcile(store, config)
    assert second["matching"]["clustered_records"] == 0
    assert second["golden"]["history_rows"] == 0
    store.dispose()


def test_duckdb_reads_an_arrow_copy_that_gives_back_the_same_frame_and_scores(tmp_path):
    from matching import features as F
    from matching.backends import DuckDBBackend
    from matching.model import train
    from matching.scoring import score_all

    _demo, store, _config = _reconciled(tmp_path)
    with store.session() as s:
        frame = F.frame_from_rows([F.record_features(rid, src, std) for rid, src, std, _u in load_records(s)])
    store.dispose()
    table = F.frame_to_arrow(frame)
    back = F.frame_from_arrow(table)
    assert list(back.columns) == list(frame.columns) and (back.dtypes == frame.dtypes).all()
    assert back.astype(str).equals(frame.astype(str))
    assert feature_hashes(back) == feature_hashes(frame)
    assert table.nbytes < frame.memory_usage(deep=True).sum() / 2

    results = []
    for inputs in (frame, table):
        # One thread: DuckDB's sampling for u then sees rows in one order, so training repeats exactly.
        backend = DuckDBBackend(threads=1)
        try:
            model = train(inputs, backend, 1, seed=3)
            scored = score_all(model, backend, inputs, 0.05)
        finally:
            backend.close()
        results.append((model.parameters, model.tf_tables,
                        [(a, b, w, p, e.get()) for a, b, w, p, e in scored.itertuples(index=False, name=None)]))
    assert len(results[0][2]) > 100
    assert results[0] == results[1]


def test_a_big_store_read_by_a_child_process_reconciles_exactly_as_one_read_in_process(tmp_path, monkeypatch):
    from mdm.services import match_inputs
    from test_reconcile_support import golden_state

    demo = private_demo(tmp_path, persons=300, seed=5)
    config = load_config(demo / "mdm.toml")
    states = []
    children = counted_pools(monkeypatch, match_inputs)
    for name, threshold in (("in-process", "1000000"), ("child", "0")):
        monkeypatch.setenv("MDM_MATCH_READ_CHILD_AFTER", threshold)
        store = Store(f"sqlite:///{tmp_path / name}.sqlite")
        store.upgrade()
        config.var_dir = tmp_path / f"var-{name}"
        reconcile(store, config)
        states.append(golden_state(store))
        store.dispose()
        # Nothing of the child's hand-over (features with HETUs) is left behind.
        assert not list(config.var_dir.glob("match-inputs-*"))
    assert len(children) == 1
    assert states[0]["links"] and states[0] == states[1]


def test_a_failed_run_keeps_the_last_snapshot_in_place(tmp_path, monkeypatch):
    """The snapshot is written while the golden stage runs, but put in place only after the commit."""
    import pyarrow.parquet as pq
    import pytest

    from mdm.services import reconcile as reconcile_module

    demo, store, config = _reconciled(tmp_path)
    path = match_cache.cache_path(config.var_dir)

    def run_of_snapshot() -> list:  # type: ignore[type-arg]
        import json
        return json.loads(pq.read_schema(path).metadata[b"mdm"])["run"]

    with store.session() as s:
        first = list(match_cache.last_successful_run(s))
    assert run_of_snapshot() == first
    _edit_exports(demo, 3)

    def fail(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("the golden stage failed")

    written = []

    def write_pending(*args):  # type: ignore[no-untyped-def]
        written.append(match_cache_write(*args))
        return written[-1]

    match_cache_write = match_cache.write_pending
    monkeypatch.setattr(match_cache, "write_pending", write_pending)
    monkeypatch.setattr(reconcile_module, "apply_matching", fail)
    with pytest.raises(RuntimeError):
        reconcile(store, config)
    assert run_of_snapshot() == first
    assert len(written) == 1 and not written[0].exists()  # written meanwhile, then removed
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no half-written or pending file
    monkeypatch.undo()
    report = reconcile(store, config)
    assert report["status"] == "succeeded" and run_of_snapshot()[0] == report["run_id"]
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    store.dispose()
