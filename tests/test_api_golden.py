"""GET /api/v1/golden/{id}, its history, and the change feed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from mdm.store import models as m
from test_web_support import *  # noqa: F401,F403 - fixtures
from test_web_support import bearer, make_key


def test_golden_record(client, store, world):
    key = make_key(store, "all")
    resp = client.get("/api/v1/golden/g-mother", headers=bearer(key))
    assert resp.status_code == 200
    rec = resp.get_json()
    assert rec["id"] == "g-mother" and rec["redirected_from"] is None and rec["shared"] is False
    assert rec["attributes"]["family_name"] == "Virtanen"
    assert rec["relations"]["children"] == ["g-child"]
    assert resp.headers["Cache-Control"] == "no-store"


def test_merged_id_follows_the_redirect_chain(client, store, world):
    key = make_key(store, "attrs:identity")
    resp = client.get("/api/v1/golden/g-old1", headers=bearer(key))
    assert resp.status_code == 200
    rec = resp.get_json()
    assert rec["id"] == "g-mother" and rec["redirected_from"] == "g-old1"
    with store.session() as s:
        entry = s.scalars(select(m.AccessLogEntry)).one()
    assert entry.endpoint == "golden" and entry.golden_ids == ["g-old1", "g-mother"]


def test_retired_is_410_and_unknown_404(client, store, world):
    key = make_key(store, "all")
    for gid in ("g-retired", "g-into-retired"):
        resp = client.get(f"/api/v1/golden/{gid}", headers=bearer(key))
        assert resp.status_code == 410
        assert resp.get_json()["error"]["code"] == "gone" and resp.get_json()["error"]["status"] == 410
    resp = client.get("/api/v1/golden/g-nobody", headers=bearer(key))
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/golden/" + "x" * 41, headers=bearer(key)).status_code == 404


def test_merge_cycle_is_gone_not_a_hang(client, store, world):
    with store.session() as s:
        s.add(m.GoldenRecord(id="g-c1", status="merged", attributes={}))
        s.add(m.GoldenRecord(id="g-c2", status="merged", redirect_to="g-c1", attributes={}))
        s.flush()
        s.get(m.GoldenRecord, "g-c1").redirect_to = "g-c2"
    resp = client.get("/api/v1/golden/g-c1", headers=bearer(make_key(store, "all")))
    assert resp.status_code == 410


def _add_history(store, gid, n):
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with store.session() as s:
        for i in range(n):
            s.add(m.GoldenHistory(golden_id=gid, event_type=f"e{i}", created_at=base + timedelta(minutes=i),
                                  details={"changed_attributes": ["family_name"], "old": {"address": "secret"}}))


def test_history_newest_first_paginated(client, store, world):
    _add_history(store, "g-mother", 5)
    key = make_key(store, "all")
    page1 = client.get("/api/v1/golden/g-mother/history?limit=3", headers=bearer(key)).get_json()
    assert [h["event_type"] for h in page1["items"]] == ["e4", "e3", "e2"]
    assert page1["items"][0]["details"] == {"changed_attributes": ["family_name"]}  # values never pass
    assert page1["items"][0]["created_at"] == "2026-01-01T00:04:00+00:00"
    assert page1["next_before"] == page1["items"][-1]["id"]
    page2 = client.get(f"/api/v1/golden/g-mother/history?limit=3&before={page1['next_before']}",
                       headers=bearer(key)).get_json()
    assert [h["event_type"] for h in page2["items"]] == ["e1", "e0"] and page2["next_before"] is None


def test_history_errors(client, store, world):
    key = make_key(store, "all")
    assert client.get("/api/v1/golden/g-nobody/history", headers=bearer(key)).status_code == 404
    resp = client.get("/api/v1/golden/g-mother/history?limit=0", headers=bearer(key))
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "limit"


def test_changes_feed(client, store, world):
    with store.session() as s:
        for i in range(120):
            s.add(m.ChangeEvent(golden_id=f"g-{i}", event_type="updated",
                                payload={"status": "active", "attributes": {"phone": "+358401234567"}}))
    key = make_key(store, "all")
    first = client.get("/api/v1/changes", headers=bearer(key)).get_json()
    assert len(first["items"]) == 100  # default limit
    cursors = [c["cursor"] for c in first["items"]]
    assert cursors == sorted(cursors) and first["next_cursor"] == cursors[-1]
    assert first["items"][0]["payload"] == {"status": "active"}
    rest = client.get(f"/api/v1/changes?since={first['next_cursor']}&limit=1000", headers=bearer(key)).get_json()
    assert len(rest["items"]) == 20 and rest["items"][0]["cursor"] > cursors[-1]
    end = client.get(f"/api/v1/changes?since={rest['next_cursor']}", headers=bearer(key)).get_json()
    assert end == {"items": [], "next_cursor": rest["next_cursor"]}
    few = client.get("/api/v1/changes?since=0&limit=5", headers=bearer(key)).get_json()
    assert [c["cursor"] for c in few["items"]] == cursors[:5]


def test_changes_limits(client, store, world):
    key = make_key(store, "all")
    for query, field in (("limit=1001", "limit"), ("limit=0", "limit"), ("since=-1", "since"),
                         ("since=abc", "since"), (f"since={2**70}", "since")):
        resp = client.get(f"/api/v1/changes?{query}", headers=bearer(key))
        assert resp.status_code == 400, query
        assert resp.get_json()["error"]["field"] == field


def test_health_only_person_needs_the_health_group(client, store, world):
    _add_history(store, "g-health-only", 1)
    plain = make_key(store, "attrs:identity", "plain")
    health = make_key(store, "attrs:identity,attrs:health", "health")
    for url in ("/api/v1/golden/g-health-only", "/api/v1/golden/g-health-only/history"):
        assert client.get(url, headers=bearer(plain)).status_code == 404
        assert client.get(url, headers=bearer(health)).status_code == 200
    rec = client.get("/api/v1/golden/g-health-only", headers=bearer(health)).get_json()
    assert rec["sources"] == [{"source": "health", "source_id": "H3"}]
