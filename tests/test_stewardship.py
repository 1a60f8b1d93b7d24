"""Steward services: review decisions, merge, split, overrides, HETU reveal, id resolution.

Each function on a small hand-built store (SQLite and PostgreSQL), then end to
end: steward work done after a real reconciliation holds through the next ones.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from mdm.config import load_config
from mdm.demo_data.generator import make_hetu
from mdm.services import stewardship as svc
from mdm.services.golden import recompute_goldens
from mdm.services.reconcile import reconcile
from mdm.store import models as m
from test_reconcile_support import golden_state, private_demo, seed_model

H1 = make_hetu(date(1980, 5, 1), 123, "-")
H2 = make_hetu(date(1982, 7, 9), 246, "-")
H3 = make_hetu(date(2001, 3, 3), 155, "A")


def _std(given: str, family: str, *, hetu: str | None = None, phone: str | None = None,
         birth: str | None = None, updated: str = "2026-01-01T00:00:00+00:00") -> dict[str, Any]:
    idents = [{"type": "hetu", "value": hetu, "quality": "valid", "status": "active"}] if hetu else []
    if phone:
        idents.append({"type": "phone", "value": phone, "quality": "valid", "status": "active"})
    return {"kind": "person", "names": [{"use": "official", "given": given, "family": family}],
            "birth_date": birth, "identifiers": idents, "addresses": [], "flags": [], "updated_at": updated}


@pytest.fixture
def people(store) -> dict[str, Any]:
    """Three golden records: A = {a1, a2} (HETU H1), B = {b1, b2} (H2 and H3), C = {c1}."""
    spec = {
        "a1": ("library", _std("Matti", "Virtanen", phone="+358401111111")),
        "a2": ("health", _std("Matti Juhani", "Virtanen", hetu=H1, birth="1980-05-01")),
        "b1": ("library", _std("Maija", "Virtanen", hetu=H3)),
        "b2": ("health", _std("Maija", "Virtanen", hetu=H2, birth="1982-07-09")),
        "c1": ("library", _std("Pekka", "Niemi")),
    }
    goldens = {"A": ["a1", "a2"], "B": ["b1", "b2"], "C": ["c1"]}
    ids: dict[str, Any] = {}
    with store.session() as s:
        systems = {name: m.SourceSystem(name=name, connector=conn)
                   for name, conn in (("library", "koha-csv"), ("health", "fhir-ndjson"))}
        s.add_all(systems.values())
        s.flush()
        for key, (source, std) in spec.items():
            rec = m.SourceRecord(source_system_id=systems[source].id, source_id=key, standardised=std, raw={},
                                 content_hash=key)
            s.add(rec)
            s.flush()
            ids[key] = rec.id
            for ident in std["identifiers"]:
                s.add(m.Identifier(source_record_id=rec.id, type=ident["type"], value=ident["value"],
                                   raw_value=ident["value"]))
        for gid, keys in goldens.items():
            s.add(m.GoldenRecord(id=f"G{gid}", attributes={}, identifier_set=[]))
            s.flush()
            s.add_all(m.GoldenLink(source_record_id=ids[k], golden_id=f"G{gid}") for k in keys)
        s.flush()
        recompute_goldens(s, ["GA", "GB", "GC"], None)
    return ids


def _history(store, golden_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return list(s.scalars(select(m.GoldenHistory.event_type).where(m.GoldenHistory.golden_id == golden_id)
                              .order_by(m.GoldenHistory.id)))


def _audit(store, action: str) -> list[m.AuditEvent]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return list(s.scalars(select(m.AuditEvent).where(m.AuditEvent.action == action).order_by(m.AuditEvent.id)))


def _members(store, golden_id: str) -> set[int]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return set(s.scalars(select(m.GoldenLink.source_record_id).where(m.GoldenLink.golden_id == golden_id)))


def _decisions(store) -> list[tuple[int, int, str, bool]]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return [(d.left_record_id, d.right_record_id, d.kind, d.revoked_at is None)
                for d in s.scalars(select(m.StewardDecision).order_by(m.StewardDecision.id))]


# -- each function ----------------------------------------------------------------------

def test_review_decisions_become_ordered_steward_decisions(store, people):
    with store.session() as s:
        tasks = [m.ReviewTask(left_record_id=min(a, b), right_record_id=max(a, b), score=0.7)
                 for a, b in ((people["a1"], people["b1"]), (people["a1"], people["c1"]),
                              (people["b2"], people["c1"]))]
        s.add_all(tasks)
        s.flush()
        same, different, skip = (t.id for t in tasks)
    with store.session() as s:
        assert svc.decide_review_task(s, same, "same", "steward1", "one person") is not None
        assert svc.decide_review_task(s, different, "different", "steward1") is not None
        assert svc.decide_review_task(s, skip, "skip", "steward1") is None
    pair = lambda a, b: (min(people[a], people[b]), max(people[a], people[b]))  # noqa: E731
    assert _decisions(store) == [(*pair("a1", "b1"), "must_link", True), (*pair("a1", "c1"), "cannot_link", True)]
    with store.session() as s:
        got = {t.id: (t.status, t.decision, t.decided_by) for t in s.scalars(select(m.ReviewTask))}
        linked = s.scalar(select(m.StewardDecision.review_task_id).where(m.StewardDecision.kind == "must_link"))
    assert got == {same: ("decided", "same", "steward1"), different: ("decided", "different", "steward1"),
                   skip: ("skipped", "skip", "steward1")}
    assert linked == same
    assert [a.details["decision"] for a in _audit(store, "review_decision")] == ["same", "different", "skip"]
    with store.session() as s, pytest.raises(svc.StewardshipError, match="not open"):
        svc.decide_review_task(s, same, "different", "steward2")
    with store.session() as s, pytest.raises(svc.StewardshipError, match="unknown decision"):
        svc.decide_review_task(s, skip, "maybe", "steward2")
    with store.session() as s, pytest.raises(svc.NotFound):
        svc.decide_review_task(s, 10_000, "same", "steward2")


def test_merge_moves_links_redirects_and_recomputes(store, people):
    with store.session() as s:
        # An id merged into B earlier must end up pointing at the survivor too.
        s.add(m.GoldenRecord(id="GOLD", status="merged", redirect_to="GB", attributes={}))
        s.add(m.AttributeOverride(golden_id="GB", attribute="calling_name", value="Maikki", actor="x"))
    with store.session() as s:
        assert svc.merge_golden(s, "GA", "GB", "steward1", "same person, two HETUs by mistake") == "GA"
    assert _members(store, "GA") == {people[k] for k in ("a1", "a2", "b1", "b2")}
    with store.session() as s:
        rows = {g.id: g for g in s.scalars(select(m.GoldenRecord))}
        assert (rows["GB"].status, rows["GB"].redirect_to) == ("merged", "GA")
        assert rows["GOLD"].redirect_to == "GA"
        assert set(rows["GA"].identifier_set) >= {f"hetu:{H1}", f"hetu:{H2}", f"hetu:{H3}"}
        # B's override moved along and wins on the survivor.
        assert rows["GA"].attributes["calling_name"] == {"value": "Maikki", "source": "steward",
                                                         "source_record_id": None, "rule": "override"}
        assert svc.resolve_golden_id(s, "GOLD") == ("GA", True)
        assert svc.resolve_golden_id(s, "GA") == ("GA", False)
        feed = s.scalars(select(m.ChangeEvent.event_type).where(m.ChangeEvent.golden_id.in_(["GA", "GB"]))).all()
        actors = set(s.scalars(select(m.GoldenHistory.actor)))
    assert _history(store, "GB") == ["merged"]
    history = _history(store, "GA")
    assert history[0] == "absorbed" and "identifier_added" in history and "attribute_changed" in history
    assert sorted(feed) == sorted(history + ["merged"])
    assert actors == {"steward1"}
    a, b = sorted((people["a1"], people["b1"]))
    assert _decisions(store) == [(a, b, "must_link", True)]
    assert _audit(store, "merge_golden")[0].details["merged"] == "GB"
    with store.session() as s, pytest.raises(svc.StewardshipError, match="merged into GA"):
        svc.merge_golden(s, "GC", "GB", "steward1")
    with store.session() as s, pytest.raises(svc.StewardshipError, match="itself"):
        svc.merge_golden(s, "GC", "GC", "steward1")
    with store.session() as s, pytest.raises(svc.NotFound):
        svc.resolve_golden_id(s, "Gnope")


def test_split_mints_a_new_record_with_cannot_links(store, people):
    with store.session() as s:
        for bad, message in (([], "at least one"), ([people["b1"], people["b2"]], "every record"),
                             ([people["a1"]], "not current records")):
            with pytest.raises(svc.StewardshipError, match=message):
                svc.split_golden(s, "GB", bad, "steward1")
    with store.session() as s:
        new_id = svc.split_golden(s, "GB", [people["b1"]], "steward1", "two people")
    assert new_id.startswith("G") and new_id not in ("GA", "GB", "GC")
    assert _members(store, "GB") == {people["b2"]} and _members(store, new_id) == {people["b1"]}
    with store.session() as s:
        old, new = s.get(m.GoldenRecord, "GB"), s.get(m.GoldenRecord, new_id)
        assert new.status == "active" and new.attributes["hetu"]["value"] == H3
        assert old.attributes["hetu"]["value"] == H2 and old.identifier_set == [f"hetu:{H2}"]
        split = s.scalars(select(m.GoldenHistory).where(m.GoldenHistory.event_type == "split")).one()
        created = s.scalars(select(m.GoldenHistory).where(m.GoldenHistory.golden_id == new_id)).one()
    assert (split.golden_id, split.details) == ("GB", {"new_golden_ids": [new_id]})
    assert (created.event_type, created.details) == ("created", {"records": 1, "split_from": "GB"})
    a, b = sorted((people["b1"], people["b2"]))
    assert _decisions(store) == [(a, b, "cannot_link", True)]
    assert _audit(store, "split_golden")[0].details["new_golden_id"] == new_id


def test_overrides_win_at_once_and_removal_restores(store, people):
    with store.session() as s:
        first = svc.set_override(s, "GA", "family_name", "Virtanen-Steward", "steward1", "register says so")
        second = svc.set_override(s, "GA", "family_name", "Virtanen-Korjattu", "steward2", "typo")
    with store.session() as s:
        attrs = s.get(m.GoldenRecord, "GA").attributes
        rows = {o.id: o for o in s.scalars(select(m.AttributeOverride))}
    assert attrs["family_name"]["value"] == "Virtanen-Korjattu" and attrs["family_name"]["rule"] == "override"
    assert rows[first].removed_by == "steward2" and rows[second].removed_at is None
    assert _history(store, "GA") == ["attribute_changed", "attribute_changed"]
    with store.session() as s:
        assert svc.remove_override(s, second, "steward1") == "GA"
    with store.session() as s:
        assert s.get(m.GoldenRecord, "GA").attributes["family_name"]["value"] == "Virtanen"
    assert [a.action for a in _audit(store, "set_override") + _audit(store, "remove_override")] == \
        ["set_override", "set_override", "remove_override"]
    for attribute, value, message in (("shoe_size", 44, "unknown attribute"), ("hetu", "010101-0000", "valid HETU"),
                                      ("birth_date", "1.1.1980", "ISO date"), ("turvakielto", "yes", "true or false")):
        with store.session() as s, pytest.raises(svc.StewardshipError, match=message):
            svc.set_override(s, "GA", attribute, value, "steward1")
    with store.session() as s, pytest.raises(svc.StewardshipError, match="already removed"):
        svc.remove_override(s, second, "steward1")


def test_reveal_hetu_needs_a_role_and_a_reason_and_is_logged(store, people):
    with store.session() as s:
        with pytest.raises(PermissionError):
            svc.reveal_hetu(s, "GB", "viewer1", "viewer", "curious")
        with pytest.raises(svc.StewardshipError, match="reason"):
            svc.reveal_hetu(s, "GB", "steward1", "steward", "  ")
    with store.session() as s:
        values = svc.reveal_hetu(s, "GB", "steward1", "steward", "Kela asked to confirm identity")
    assert values[0] == H2 and sorted(values) == sorted([H2, H3])
    (event,) = _audit(store, "reveal_hetu")
    assert (event.actor, event.target_id, event.details["reason"]) == ("steward1", "GB",
                                                                      "Kela asked to confirm identity")
    assert H2 not in str(event.details) and H3 not in str(event.details)


# -- end to end ---------------------------------------------------------------------------

def _records_by_golden(store) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[int]] = {}
    with store.session() as s:
        for gid, rid in s.execute(select(m.GoldenLink.golden_id, m.GoldenLink.source_record_id)
                                  .order_by(m.GoldenLink.source_record_id)):
            out.setdefault(gid, []).append(rid)
    return out


def _history_of_run(store, run_id: int) -> set[str]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return set(s.scalars(select(m.GoldenHistory.golden_id).where(m.GoldenHistory.run_id == run_id)))


def test_steward_work_holds_through_reconciliation(store, tmp_path, monkeypatch):
    demo = private_demo(tmp_path)
    monkeypatch.setenv("MDM_VAR_DIR", str(tmp_path / "var"))
    config = load_config(demo / "mdm.toml")
    seed_model(store)
    reconcile(store, config)
    by_golden = _records_by_golden(store)
    owner = {rid: gid for gid, rids in by_golden.items() for rid in rids}
    used: set[str] = set()

    def pick(size: int, count: int = 1) -> list[str]:
        chosen = [g for g in sorted(by_golden) if len(by_golden[g]) == size and g not in used][:count]
        assert len(chosen) == count, f"no {count} golden records of {size} records"
        used.update(chosen)
        return chosen

    with store.session() as s:
        task = next(t for t in s.scalars(select(m.ReviewTask).where(m.ReviewTask.status == "open",
                                                                      m.ReviewTask.reason == "review_band")
                                         .order_by(m.ReviewTask.id))
                    if {owner[t.left_record_id], owner[t.right_record_id]}.isdisjoint(used)
                    and owner[t.left_record_id] != owner[t.right_record_id])
    same_pair = (task.left_record_id, task.right_record_id)
    used.update(owner[r] for r in same_pair)
    (pair_golden,) = pick(2)
    survivor, other = pick(1, 2)
    (to_split,) = [g for g in sorted(by_golden, key=lambda g: (-len(by_golden[g]), g)) if g not in used][:1]
    used.add(to_split)
    (overridden,) = pick(1)
    different_pair = tuple(by_golden[pair_golden])

    with store.session() as s:
        flagged = m.ReviewTask(left_record_id=different_pair[0], right_record_id=different_pair[1],
                               reason="steward_flag")
        s.add(flagged)
        s.flush()
        svc.decide_review_task(s, flagged.id, "different", "steward1", "twins")
        svc.decide_review_task(s, task.id, "same", "steward1")
        svc.merge_golden(s, survivor, other, "steward1")
        split_off = by_golden[to_split][-1:]
        new_id = svc.split_golden(s, to_split, split_off, "steward1")
        svc.set_override(s, overridden, "calling_name", "Steward-Nimi", "steward1", "asked in person")

    second = reconcile(store, config)
    after = _records_by_golden(store)
    owner2 = {rid: gid for gid, rids in after.items() for rid in rids}
    # "Different people": apart, and the golden id stays with one of them.
    assert owner2[different_pair[0]] != owner2[different_pair[1]]
    assert pair_golden in (owner2[different_pair[0]], owner2[different_pair[1]])
    # "Same person": together. The record may have come alone (the rest of its golden
    # record can be held apart by a HETU); a golden record left empty redirects.
    together = owner2[same_pair[0]]
    assert owner2[same_pair[1]] == together and together in {owner[r] for r in same_pair}
    left = ({owner[r] for r in same_pair} - {together}).pop()
    with store.session() as s:
        expected = (left, False) if after.get(left) else (together, True)
        assert svc.resolve_golden_id(s, left) == expected
        assert s.get(m.GoldenRecord, overridden).attributes["calling_name"]["value"] == "Steward-Nimi"
    # The steward's merge, split and override are left exactly as they were.
    assert sorted(after[survivor]) == sorted(by_golden[survivor] + by_golden[other]) and other not in after
    assert after[new_id] == split_off and sorted(after[to_split]) == sorted(by_golden[to_split][:-1])
    assert _history_of_run(store, second["run_id"]).isdisjoint({survivor, other, to_split, new_id, overridden})

    # And a further run changes nothing at all.
    state = golden_state(store)
    third = reconcile(store, config)
    assert third["golden"]["history_rows"] == 0, third["golden"]
    assert golden_state(store) == state
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.GoldenHistory)
                        .where(m.GoldenHistory.run_id == third["run_id"])) == 0


def test_steward_command_line(store, people, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from mdm.cli import main

    monkeypatch.setenv("MDM_DATABASE_URL", store.url)
    monkeypatch.chdir(tmp_path)  # no mdm.toml here: the defaults and the environment
    with store.session() as s:
        s.add(m.ReviewTask(left_record_id=min(people["a1"], people["c1"]),
                           right_record_id=max(people["a1"], people["c1"]), score=0.61))
    runner = CliRunner()

    def ok(*args: str) -> str:
        res = runner.invoke(main, ["steward", *args])
        assert res.exit_code == 0, res.output
        return res.output

    (task_line,) = ok("tasks").splitlines()
    assert "0.610" in task_line
    ok("decide", task_line.split("\t")[0], "different", "--actor", "anna", "--comment", "not the same")
    assert "moved to the new golden record" in ok("split", "GB", "library:b1", "--actor", "anna")
    ok("merge", "GA", "GC", "--actor", "anna")
    assert ok("resolve", "GC").startswith("GA\t(redirected from GC)")
    assert "override" in ok("override", "GA", "turvakielto", "true", "--actor", "anna", "--reason", "court order")
    with store.session() as s:
        assert s.get(m.GoldenRecord, "GA").attributes["turvakielto"]["value"] is True
        oid = s.scalar(select(m.AttributeOverride.id))
        actors = set(s.scalars(select(m.AuditEvent.actor)))
    ok("remove-override", str(oid), "--actor", "anna")
    assert actors == {"anna"}
    res = runner.invoke(main, ["steward", "split", "GA", "library:nope", "--actor", "anna"])
    assert res.exit_code == 2 and res.output.startswith("Error: no source record")
