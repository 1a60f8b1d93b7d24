"""Stable golden ids: the assignment rules as plain functions, then through real reconciliations."""
from __future__ import annotations

import re

from sqlalchemy import select

from mdm.config import load_config
from mdm.services import stewardship as svc
from mdm.services.golden_ids import assign, mint_id
from mdm.services.pull import pull
from mdm.services.reconcile import reconcile
from mdm.store import models as m
from test_reconcile_support import edit_csv, golden_of, members_by_golden, private_demo, seed_model


# -- assign() and mint_id() -------------------------------------------------------------

def test_unchanged_and_grown_clusters_keep_their_ids():
    links = {1: "G1", 2: "G1", 3: "G2"}
    ids = assign({1: [1, 2, 4], 3: [3]}, links, {"G1", "G2"})
    assert ids.golden_of == {1: "G1", 3: "G2"}
    assert not ids.merged_into and not ids.retired and not ids.split_from


def test_id_stays_with_the_part_that_keeps_most_records():
    links = {1: "G1", 2: "G1", 3: "G1", 4: "G1"}
    # The larger part does not hold the smallest record id: the id still goes with it.
    ids = assign({1: [1], 2: [2, 3, 4]}, links, {"G1"})
    assert ids.golden_of == {1: None, 2: "G1"}
    assert ids.split_from == {1: "G1"}
    assert not ids.merged_into and not ids.retired


def test_merge_keeps_the_survivors_id_and_redirects_the_other():
    links = {1: "G1", 2: "G1", 3: "G1", 4: "G2", 5: "G2"}
    ids = assign({1: [1, 2, 3, 4, 5]}, links, {"G1", "G2"})
    assert ids.golden_of == {1: "G1"}
    assert ids.merged_into == {"G2": 1}
    # A tie is broken by the golden id, so every run decides the same way.
    tie = assign({1: [1, 2, 3, 4]}, {1: "Gb", 2: "Gb", 3: "Ga", 4: "Ga"}, {"Ga", "Gb"})
    assert tie.golden_of == {1: "Ga"} and tie.merged_into == {"Gb": 1}


def test_emptied_golden_is_retired_and_inactive_links_are_ignored():
    links = {1: "G1", 2: "G2", 3: "Gold"}
    ids = assign({1: [1], 3: [3]}, links, {"G1", "G2"})  # record 2 is gone; Gold is merged already
    assert ids.retired == {"G2"}
    assert ids.golden_of == {1: "G1", 3: None} and ids.split_from == {}


def test_split_into_many_parts_mints_for_each_but_the_largest():
    links = {r: "G1" for r in range(1, 7)}
    ids = assign({1: [1, 2], 3: [3, 4, 5], 6: [6]}, links, {"G1"})
    assert ids.golden_of == {1: None, 3: "G1", 6: None}
    assert ids.split_from == {1: "G1", 6: "G1"}


def test_minted_ids_are_opaque_deterministic_and_never_reused():
    first = mint_id("record:17", lambda c: False)
    assert re.fullmatch(r"G[bcdfghjkmnpqrstv]{20}", first)
    assert mint_id("record:17", lambda c: False) == first
    assert mint_id("record:18", lambda c: False) != first
    taken: set[str] = set()
    for _ in range(3):  # the first candidates are taken: the next free one is used
        taken.add(mint_id("record:17", taken.__contains__))
    assert len(taken) == 3
    fourth = mint_id("record:17", taken.__contains__)
    assert fourth not in taken and re.fullmatch(r"G[bcdfghjkmnpqrstv]{20}", fourth)


# -- through reconciliations -----------------------------------------------------------------

def test_ids_through_reconciliation_retire_and_bridge(store, tmp_path, monkeypatch):
    demo = private_demo(tmp_path)
    monkeypatch.setenv("MDM_VAR_DIR", str(tmp_path / "var"))
    config = load_config(demo / "mdm.toml")
    seed_model(store)
    reconcile(store, config)
    members = members_by_golden(store)
    before = golden_of(store)
    singles = {gid: next(iter(keys)) for gid, keys in sorted(members.items()) if len(keys) == 1}
    library_singles = [g for g, key in singles.items() if key[0] == "library"]
    transit_singles = [g for g, key in singles.items() if key[0] == "transit"]
    retire, bridge_a = library_singles[:2]
    bridge_b = transit_singles[0]

    # 1. The only record of a golden record leaves its source: the golden record is retired.
    gone = singles[retire][1]
    edit_csv(demo / "library" / "patrons.csv", lambda rows: [r for r in rows if r["borrowernumber"] != gone])
    # 2. A new library account of bridge_a's person, which a steward says is also bridge_b's person.
    copy_of = singles[bridge_a][1]

    def add_account(rows):  # type: ignore[no-untyped-def]
        original = next(r for r in rows if r["borrowernumber"] == copy_of)
        return rows + [dict(original, borrowernumber="99002", cardnumber="2079900002")]

    edit_csv(demo / "library" / "patrons.csv", add_account)
    assert not pull(store, config, only="library").failed
    with store.session() as s:
        new_rid = s.scalar(select(m.SourceRecord.id).where(m.SourceRecord.source_id == "99002"))
        other_rid = s.scalar(select(m.GoldenLink.source_record_id).where(m.GoldenLink.golden_id == bridge_b))
        s.add(m.StewardDecision(left_record_id=min(new_rid, other_rid), right_record_id=max(new_rid, other_rid),
                                kind="must_link", actor="steward1", comment="the same person"))
    survivor, merged = sorted((bridge_a, bridge_b))  # they tie (one record each): the smaller id survives
    with store.session() as s:
        # A steward's value on the record that will be merged away must keep winning.
        svc.set_override(s, merged, "calling_name", "Silta", "steward1", "asked in person")
    report = reconcile(store, config)
    assert report["golden"]["retired"] == 1 and report["golden"]["merged"] == 1, report["golden"]

    after = golden_of(store)
    with store.session() as s:
        rows = {g.id: g for g in s.scalars(select(m.GoldenRecord))}
        history = {(h.golden_id, h.event_type): h.details for h in s.scalars(select(m.GoldenHistory)
                                                                             .where(m.GoldenHistory.run_id == report["run_id"]))}
        assert rows[retire].status == "retired" and ("library", gone) not in after
        assert (retire, "retired") in history
        assert after[("library", "99002")] == after[singles[bridge_a]] == after[singles[bridge_b]] == survivor
        assert (rows[merged].status, rows[merged].redirect_to) == ("merged", survivor)
        assert history[(merged, "merged")] == {"into": survivor}
        assert history[(survivor, "absorbed")] == {"golden_id_merged": merged}
        assert rows[survivor].attributes["calling_name"]["value"] == "Silta"
        assert s.scalars(select(m.AttributeOverride.golden_id)
                         .where(m.AttributeOverride.removed_at.is_(None))).all() == [survivor]
        assert svc.resolve_golden_id(s, merged) == (survivor, True)
        assert svc.resolve_golden_id(s, survivor) == (survivor, False)
        assert svc.resolve_golden_id(s, retire) == (retire, False)
    # Every other record kept its golden id.
    untouched = {k: v for k, v in before.items() if v not in (retire, bridge_a, bridge_b)}
    assert {k: after[k] for k in untouched} == untouched
