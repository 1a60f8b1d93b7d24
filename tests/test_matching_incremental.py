"""An incremental run must end in exactly the clusters of a full run on the same data."""
from __future__ import annotations

import csv
import random
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select

from mdm.config import load_config
from mdm.demo_data import generate
from mdm.services.reconcile import reconcile
from mdm.store import Store
from mdm.store import models as m


def _groups(store: Store) -> dict[str, set[tuple[str, str]]]:
    """Golden id -> its records as (source, source id)."""
    groups: dict[str, set[tuple[str, str]]] = defaultdict(set)
    with store.session() as s:
        for src, sid, gid in s.execute(
            select(m.SourceSystem.name, m.SourceRecord.source_id, m.GoldenLink.golden_id)
            .join(m.SourceRecord, m.SourceRecord.source_system_id == m.SourceSystem.id)
            .join(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
        ):
            groups[gid].add((src, sid))
    return groups


def _partition(store: Store) -> set[frozenset[tuple[str, str]]]:
    return {frozenset(v) for v in _groups(store).values()}


def _surviving_values(store: Store) -> dict[frozenset[tuple[str, str]], dict[str, object]]:
    """Per golden record (keyed by its members): the surviving value of each attribute."""
    groups = _groups(store)
    with store.session() as s:
        values = {gid: {k: v["value"] for k, v in (attrs or {}).items()} for gid, attrs in s.execute(
            select(m.GoldenRecord.id, m.GoldenRecord.attributes).where(m.GoldenRecord.status == "active"))}
    return {frozenset(members): values[gid] for gid, members in groups.items()}


def _review_pairs(store: Store) -> set[frozenset[tuple[str, str]]]:
    with store.session() as s:
        keys = {rid: (src, sid) for rid, src, sid in s.execute(
            select(m.SourceRecord.id, m.SourceSystem.name, m.SourceRecord.source_id)
            .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id))}
        return {frozenset((keys[a], keys[b])) for a, b in s.execute(
            select(m.ReviewTask.left_record_id, m.ReviewTask.right_record_id)
            .where(m.ReviewTask.status == "open"))}


def _edit_exports(demo: Path, seed: int) -> None:
    """Change a few records the way a day of real use does: edits, moves, new and removed rows."""
    rnd = random.Random(seed)
    path = demo / "library" / "patrons.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    for row in rnd.sample(rows, len(rows) // 30):
        choice = rnd.random()
        if choice < 0.4:
            row["surname"] = row["surname"] + "-Laine"
        elif choice < 0.7:
            row["smsalertnumber"] = f"040{rnd.randrange(10**6, 10**7)}"
        else:
            row["address"], row["zipcode"] = "Uusikatu 1 A 1", "20100"
    removed = set(rnd.sample(range(len(rows)), len(rows) // 50))
    rows = [r for i, r in enumerate(rows) if i not in removed]
    # Two new patrons: one a new card of an existing person, one somebody new.
    copy = dict(rnd.choice(rows))
    copy["borrowernumber"], copy["cardnumber"] = "990001", "X990001"
    rows.append(copy)
    rows.append({**copy, "borrowernumber": "990002", "cardnumber": "X990002", "firstname": "Uusi",
                 "surname": "Asiakas", "dateofbirth": "1999-09-09", "smsalertnumber": "0409999999",
                 "email": "uusi.asiakas@example.org", "patron_attributes": ""})
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _relations(store: Store) -> set[tuple[str, frozenset[tuple[str, str]], frozenset[tuple[str, str]]]]:
    groups = _groups(store)
    with store.session() as s:
        return {(t, frozenset(groups[a]), frozenset(groups[b])) for t, a, b in s.execute(
            select(m.GoldenRelation.type, m.GoldenRelation.subject_golden_id, m.GoldenRelation.object_golden_id))}


def _feature_hashes(store: Store) -> dict[tuple[str, str], str]:
    with store.session() as s:
        return {(src, sid): h for src, sid, h in s.execute(
            select(m.SourceSystem.name, m.SourceRecord.source_id, m.MatchState.feature_hash)
            .join(m.SourceRecord, m.SourceRecord.source_system_id == m.SourceSystem.id)
            .join(m.MatchState, m.MatchState.source_record_id == m.SourceRecord.id))}


def test_incremental_equals_full(tmp_path):
    demo = tmp_path / "demo"
    generate(demo, persons=800, seed=5)
    inc = Store(f"sqlite:///{tmp_path / 'inc.sqlite'}")
    inc.upgrade()
    config = load_config(demo / "mdm.toml")
    config.var_dir = tmp_path / "var-inc"
    first = reconcile(inc, config)
    assert first["matching"]["full"] is True

    _edit_exports(demo, seed=3)
    second = reconcile(inc, config)
    assert second["matching"]["full"] is False
    assert 0 < second["matching"]["changed_records"] < first["matching"]["records"] / 4
    # Started from the first run's snapshot and re-clustered only the components holding a change.
    assert 0 < second["matching"]["clustered_records"] < second["matching"]["records"]
    # A second day on top of the first (the snapshot written by the incremental run itself).
    _edit_exports(demo, seed=4)
    again = reconcile(inc, config)
    assert again["matching"]["full"] is False
    assert 0 < again["matching"]["clustered_records"] < again["matching"]["records"]

    # A fresh store, the same data, the same model: one full run.
    full = Store(f"sqlite:///{tmp_path / 'full.sqlite'}")
    full.upgrade()
    with inc.session() as s:
        model = s.scalars(select(m.MatchingModel).where(m.MatchingModel.active.is_(True))).one()
        doc, fingerprint, version = model.document, model.settings_fingerprint, model.version
    with full.session() as s:
        s.add(m.MatchingModel(version=version, settings_fingerprint=fingerprint, document=doc, active=True))
    config_full = load_config(demo / "mdm.toml")
    config_full.var_dir = tmp_path / "var-full"
    third = reconcile(full, config_full)
    assert third["matching"]["full"] is True and third["matching"]["model_trained"] is False

    assert _partition(inc) == _partition(full)
    assert _review_pairs(inc) == _review_pairs(full)
    # Only the golden records whose inputs changed were recomputed, and that is enough.
    assert _surviving_values(inc) == _surviving_values(full)
    assert _relations(inc) == _relations(full)
    # The feature table carried over from snapshots is the one a full build makes.
    assert _feature_hashes(inc) == _feature_hashes(full)
    inc.dispose()
    full.dispose()
