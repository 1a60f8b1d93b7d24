"""POST /api/v1/resolve end to end on a reconciled demo population; GET /api/v1/ping."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
from sqlalchemy import func, select

from conftest import fresh_pg_schema
from mdm.services.reconcile import reconcile
from mdm.store import Store
from mdm.store import models as m
from rules.identifiers import normalise_identifier
from stewardship_ui import create_app
from test_resolve_support import build_demo, canonical, copy_store, ensure_features, golden_of, source_records
from test_web_support import ACCESS_KEY, bearer, hetu, make_key


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_demo(tmp_path_factory.getbasetemp())


@pytest.fixture
def store(world, tmp_path):
    st = copy_store(world, tmp_path)
    yield st
    st.dispose()


def _client(store, tmp_path):
    app = create_app({"TESTING": True, "MDM_STORE": store, "VAR_DIR": str(tmp_path / "var"),
                      "SECRET_KEY": "test-secret-key", "ACCESS_LOG_KEY": ACCESS_KEY, "CLIENT_CACHE_SECONDS": 0,
                      "RESOLVE_MODEL_CHECK_SECONDS": 0})
    return app.test_client()


@pytest.fixture
def client(store, tmp_path):
    return _client(store, tmp_path)


def _resolve(client, key, record, persist=None):
    body = {"record": record}
    if persist is not None:
        body["persist"] = persist
    resp = client.post("/api/v1/resolve", json=body, headers=bearer(key))
    return resp, resp.get_json()


def _library_person(world, store):
    """A library patron of a person known to several sources: (record, golden id)."""
    lib = source_records(world, "library")
    for sid, rec in sorted(lib.items(), key=lambda kv: int(kv[0])):
        gid = golden_of(store, "library", sid)
        with store.session() as s:
            n = s.scalar(select(func.count()).select_from(m.GoldenLink).where(m.GoldenLink.golden_id == gid))
        phones = [i for i in rec.identifiers if i.type == "phone"]
        if n >= 3 and phones and rec.birth_date and rec.addresses:
            return rec, gid
    raise AssertionError("no suitable library patron in the demo")


def _changed_copy(rec, source_id="NEW-1"):
    """The same person entered again: another id, a typo in the street, the phone written otherwise."""
    data = canonical(rec, source_id=source_id)
    addr = data["addresses"][0]
    addr["street"] = addr["street"].replace("katu", "kaatu", 1) if "katu" in addr["street"] else addr["street"] + "x"
    phone = next(i for i in data["identifiers"] if i["type"] == "phone")
    phone["value"] = "0" + phone["value"][4:] if phone["value"].startswith("+358") else phone["value"]
    data["identifiers"] = [i for i in data["identifiers"] if i["type"] == "phone"]
    return data


STRANGER = {"source_id": "S-1", "names": [{"given": "Zyxwv Quentin", "family": "Qwertyuiop"}],
            "birth_date": "1901-02-03", "sex": "male",
            "identifiers": [{"type": "phone", "value": "040 999 8877"}],
            "addresses": [{"street": "Olematon kuja 99", "postal_code": "99999", "city": "Utsjoki"}]}


def test_ping_needs_no_key_and_no_database(client):
    resp = client.get("/api/v1/ping")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}
    assert resp.headers["Cache-Control"] == "no-store"


def test_existing_person_resolves_auto(client, store, world):
    rec, gid = _library_person(world, store)
    key = make_key(store, "resolve")
    resp, body = _resolve(client, key, _changed_copy(rec))
    assert resp.status_code == 200, body
    assert body["band"] == "auto" and body["golden_id"] == gid
    assert body["score"] >= 0.8 and body["rule"] is None and body["persisted"] is None
    names = [c[0] for c in body["explanation"]["comparisons"]]
    assert names == ["given_names", "surname", "birth_date", "hetu", "sex", "contact", "city", "other_id"]
    assert all(isinstance(c[2], float) for c in body["explanation"]["comparisons"])
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.SourceRecord).where(
            m.SourceRecord.source_id == "NEW-1")) == 0  # nothing stored without persist
        log = s.scalars(select(m.AccessLogEntry).order_by(m.AccessLogEntry.id.desc())).first()
    assert log.endpoint == "resolve" and log.status_code == 200 and log.golden_ids == [gid]


def test_stranger_gets_none(client, store):
    resp, body = _resolve(client, make_key(store, "resolve"), STRANGER)
    assert resp.status_code == 200
    assert body["band"] == "none" and body["golden_id"] is None and body["alternatives"] == []


def test_family_phone_and_surname_never_auto(client, store):
    """Only a surname and a phone several golden records hold: review or none, never a link."""
    key = make_key(store, "resolve")
    with store.session() as s:
        shared = s.execute(
            select(m.Identifier.value)
            .join(m.GoldenLink, m.GoldenLink.source_record_id == m.Identifier.source_record_id)
            .where(m.Identifier.type == "phone").group_by(m.Identifier.value)
            .having(func.count(func.distinct(m.GoldenLink.golden_id)) >= 2)).scalars().all()
        cases = set()
        for phone in shared:
            for std in s.scalars(select(m.SourceRecord.standardised).join(
                    m.Identifier, m.Identifier.source_record_id == m.SourceRecord.id).where(
                    m.Identifier.type == "phone", m.Identifier.value == phone)):
                cases |= {(phone, n["family"]) for n in std["names"] if n.get("family")}
    assert len(cases) >= 5
    scored = 0
    for phone, family in sorted(cases):
        _resp, body = _resolve(client, key, {"names": [{"family": family}],
                                             "identifiers": [{"type": "phone", "value": phone}]})
        assert body["band"] in ("review", "none"), (phone, body)
        scored += body["candidates"]
    assert scored > 0  # some did meet their family's records


def _health_with_hetu(world, store):
    for sid, rec in sorted(source_records(world, "health").items()):
        ids = [i for i in rec.identifiers if i.type == "hetu"]
        if ids and normalise_identifier("hetu", ids[0].value).quality == "valid" and rec.names:
            return rec, normalise_identifier("hetu", ids[0].value).value, golden_of(store, "health", sid)
    raise AssertionError("no health record with a valid HETU")


def test_other_valid_hetu_is_never_auto_and_same_hetu_always_is(client, store, world):
    rec, code, gid = _health_with_hetu(world, store)
    key = make_key(store, "resolve")
    individual = int(code[7:10])
    other = hetu(code[:6], code[6], f"{individual + 2 if individual + 2 <= 899 else individual - 2:03d}")
    assert other != code and normalise_identifier("hetu", other).quality == "valid"
    copy = canonical(rec, source_id="H-NEW")
    copy["identifiers"] = [{"type": "hetu", "value": other}]
    resp, body = _resolve(client, key, copy)
    assert resp.status_code == 200, body
    assert body["band"] != "auto"
    if body["golden_id"] == gid or body["band"] == "none":
        assert body["rule"] == "different-valid-hetu"
    # The same valid HETU links whatever else the record says.
    _resp, body = _resolve(client, key, {"names": [{"given": "Zyxwv", "family": "Qwertyuiop"}],
                                         "identifiers": [{"type": "kela_card", "value": code}]})
    assert body["band"] == "auto" and body["golden_id"] == gid and body["rule"] == "same-valid-hetu"


def test_scopes(client, store):
    resp, body = _resolve(client, make_key(store, "lookup:phone,attrs:*", name="no-resolve"), STRANGER)
    assert resp.status_code == 403 and body["error"]["code"] == "forbidden"
    resp, body = _resolve(client, make_key(store, "resolve", name="no-persist"), STRANGER, persist=True)
    assert resp.status_code == 403 and body["error"]["field"] == "persist"
    resp = client.post("/api/v1/resolve", json={"record": STRANGER})
    assert resp.status_code == 401
    with store.session() as s:
        logged = s.execute(select(m.AccessLogEntry.client_name, m.AccessLogEntry.status_code)
                           .where(m.AccessLogEntry.endpoint == "resolve")).all()
    assert sorted(logged) == [("no-persist", 403), ("no-resolve", 403)]
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.SourceRecord).where(m.SourceRecord.source_id == "S-1")) == 0


@pytest.mark.parametrize(("body", "field"), [
    ({}, "record"),
    ({"record": {"names": [{"given": 5}]}}, "record.names.0.given"),
    ({"record": {"names": [{"given": "Anna", "nick": "x"}]}}, "record.names.0.nick"),
    ({"record": {"sex": "mies"}}, "record.sex"),
    ({"record": {"identifiers": [{"type": "passport", "value": "x"}]}}, "record.identifiers.0.type"),
    ({"record": {"identifiers": [{"type": "phone"}]}}, "record.identifiers.0.value"),
    ({"record": {"names": [{"family": "A\x00b"}]}}, "record.names.0.family"),
    ({"record": {"birth_date": "1980-01-01"}, "persist": "yes"}, "persist"),
    ({"record": {"birth_date": "1980-01-01"}, "persist": True}, "record.source_id"),
    ({"record": {}, "extra": 1}, "extra"),
])
def test_malformed_body_names_the_field(client, store, body, field):
    resp = client.post("/api/v1/resolve", json=body, headers=bearer(make_key(store, "resolve,persist:frontdesk")))
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["error"]["field"] == field


def test_body_must_be_a_json_object(client, store):
    key = make_key(store, "resolve")
    for data in ("[1, 2]", "not json"):
        resp = client.post("/api/v1/resolve", data=data, headers={**bearer(key), "Content-Type": "application/json"})
        assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_request"


def test_persist_auto_links_at_once_and_is_idempotent(client, store, world):
    rec, gid = _library_person(world, store)
    key = make_key(store, "resolve,persist:frontdesk,lookup:phone")
    data = _changed_copy(rec, "FD-1")
    data["identifiers"].append({"type": "email", "value": "uusi.osoite@example.org"})
    resp, body = _resolve(client, key, data, persist=True)
    assert resp.status_code == 200, body
    assert body["band"] == "auto" and body["golden_id"] == gid
    p = body["persisted"]
    assert p["action"] == "linked" and p["status"] == "new" and p["golden_id"] == gid and p["review_tasks"] == 0
    with store.session() as s:
        link = s.get(m.GoldenLink, p["source_record_id"])
        assert link.golden_id == gid and link.kind == "auto" and link.score == pytest.approx(body["score"])
        assert link.explanation["comparisons"] == body["explanation"]["comparisons"]
        sr = s.get(m.SourceRecord, p["source_record_id"])
        assert sr.source_id == "FD-1" and sr.content_hash and sr.deleted_at is None
        assert s.scalar(select(m.SourceSystem.connector).where(m.SourceSystem.name == "frontdesk")) == "api"
        assert {(i.type, i.value) for i in s.scalars(select(m.Identifier).where(
            m.Identifier.source_record_id == sr.id))} >= {("email", "uusi.osoite@example.org")}
        hist = s.scalars(select(m.GoldenHistory).where(m.GoldenHistory.golden_id == gid)
                         .order_by(m.GoldenHistory.id.desc())).first()
        assert hist.event_type == "record_linked" and hist.details["reason"] == "resolve"
        assert s.scalar(select(func.count()).select_from(m.ChangeEvent).where(
            m.ChangeEvent.golden_id == gid, m.ChangeEvent.event_type == "record_linked")) == 1
        assert s.get(m.MatchFeature, sr.id).features["unique_id"] == sr.id
    # Findable at once by the new identifier.
    resp = client.post("/api/v1/lookup", json={"type": "email", "value": "uusi.osoite@example.org"},
                       headers=bearer(make_key(store, "lookup:email", name="reader")))
    assert [r["id"] for r in resp.get_json()["results"]] == [gid]
    # A retry stores nothing twice.
    with store.session() as s:
        links = s.scalar(select(func.count()).select_from(m.GoldenLink))
    _resp, again = _resolve(client, key, data, persist=True)
    assert again["persisted"] == {**p, "status": "unchanged", "action": "kept"}
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.GoldenLink)) == links
        assert s.scalar(select(func.count()).select_from(m.SourceRecord).where(m.SourceRecord.source_id == "FD-1")) == 1
        assert s.scalar(select(func.count()).select_from(m.ChangeEvent).where(
            m.ChangeEvent.event_type == "record_linked")) == 1


def test_persist_review_opens_tasks_and_links_nothing(client, store, world):
    rec, gid = _library_person(world, store)
    given = rec.names[0].given
    data = {"source_id": "FD-2", "names": [{"given": given, "family": "Xyzzyson"}], "birth_date": rec.birth_date}
    key = make_key(store, "resolve,persist:frontdesk")
    resp, body = _resolve(client, key, data, persist=True)
    assert resp.status_code == 200, body
    assert body["band"] == "review" and body["golden_id"] == gid
    p = body["persisted"]
    assert p["action"] == "review" and p["golden_id"] is None and p["review_tasks"] >= 1
    rid = p["source_record_id"]
    with store.session() as s:
        assert s.get(m.GoldenLink, rid) is None
        tasks = s.scalars(select(m.ReviewTask).where(
            (m.ReviewTask.left_record_id == rid) | (m.ReviewTask.right_record_id == rid))).all()
        assert len(tasks) == p["review_tasks"]
        for t in tasks:
            assert t.left_record_id < t.right_record_id and t.status == "open" and t.band == "review"
            assert t.explanation["comparisons"] and 0.5 <= t.score < 0.8
        linked = {s.get(m.GoldenLink, t.left_record_id if t.right_record_id == rid else t.right_record_id).golden_id
                  for t in tasks}
    assert gid in linked
    _resp, again = _resolve(client, key, data, persist=True)
    assert again["persisted"]["review_tasks"] == 0 and again["persisted"]["status"] == "unchanged"


def test_persist_none_creates_a_golden_record(client, store):
    key = make_key(store, "resolve,persist:frontdesk,lookup:phone,attrs:identity")
    resp, body = _resolve(client, key, STRANGER, persist=True)
    assert resp.status_code == 200, body
    p = body["persisted"]
    assert body["band"] == "none" and p["action"] == "created" and p["golden_id"].startswith("G")
    golden = client.get(f"/api/v1/golden/{p['golden_id']}", headers=bearer(key)).get_json()
    assert golden["attributes"]["family_name"] == "Qwertyuiop" and golden["attributes"]["birth_date"] == "1901-02-03"
    assert golden["sources"] == [{"source": "frontdesk", "source_id": "S-1"}]
    found = client.post("/api/v1/lookup", json={"type": "phone", "value": "0409998877"}, headers=bearer(key))
    assert [r["id"] for r in found.get_json()["results"]] == [p["golden_id"]]
    with store.session() as s:
        assert [h.event_type for h in s.scalars(select(m.GoldenHistory).where(
            m.GoldenHistory.golden_id == p["golden_id"]))] == ["created"]
        log = s.scalars(select(m.AccessLogEntry).order_by(m.AccessLogEntry.id.desc())).first()
    assert log.golden_ids == [p["golden_id"]]
    # The same person again: now the new golden record answers.
    _resp, body = _resolve(client, key, {**STRANGER, "source_id": "S-2"})
    assert body["band"] == "auto" and body["golden_id"] == p["golden_id"]


def test_nightly_run_treats_persisted_records_like_any_other(client, store, world, tmp_path):
    rec, gid = _library_person(world, store)
    key = make_key(store, "resolve,persist:frontdesk")
    linked = _resolve(client, key, _changed_copy(rec, "FD-3"), persist=True)[1]["persisted"]
    created = _resolve(client, key, STRANGER, persist=True)[1]["persisted"]
    cfg = world.config()
    cfg.var_dir = tmp_path / "var-nightly"
    report = reconcile(store, cfg)
    assert report["status"] == "succeeded"
    with store.session() as s:
        assert s.get(m.GoldenLink, linked["source_record_id"]).golden_id == gid
        assert s.get(m.GoldenLink, created["source_record_id"]).golden_id == created["golden_id"]
        assert s.get(m.GoldenRecord, created["golden_id"]).status == "active"
        assert s.get(m.MatchState, linked["source_record_id"]) is not None


def test_no_hetu_in_logs_answers_or_access_log(client, store, world, caplog):
    rec, code, gid = _health_with_hetu(world, store)
    caplog.set_level(logging.DEBUG)
    key = make_key(store, "resolve,persist:frontdesk")
    bad = code[:-1] + ("A" if code[-1] != "A" else "B")  # wrong check character
    answers = []
    for data, persist in ((canonical(rec, source_id="H-1"), False), (canonical(rec, source_id="H-2"), True),
                          ({"identifiers": [{"type": "hetu", "value": bad}]}, False),
                          ({"sex": code}, False), ({"identifiers": [{"type": "sotu", "value": code}]}, False)):
        resp = client.post("/api/v1/resolve", json={"record": data, "persist": persist}, headers=bearer(key))
        answers.append(resp.get_data(as_text=True))
    assert [json.loads(a).get("band") for a in answers[:2]] == ["auto", "auto"]
    for secret in (code, bad, code[:6] + code[7:]):
        assert secret not in caplog.text
        assert all(secret not in a for a in answers)
    with store.session() as s:
        rows = s.scalars(select(m.AccessLogEntry).where(m.AccessLogEntry.endpoint == "resolve")
                         .order_by(m.AccessLogEntry.id)).all()
    assert len(rows) == 5
    digest = hmac.new(ACCESS_KEY, code.encode(), hashlib.sha256).hexdigest()
    assert [(r.identifier_type, r.identifier_digest) for r in rows[:2]] == [("hetu", digest)] * 2
    assert rows[0].golden_ids == [gid]
    for r in rows:
        assert code not in json.dumps([r.purpose, r.identifier_digest, r.golden_ids, r.endpoint])


# -- PostgreSQL ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_world(world):
    with fresh_pg_schema() as url:
        st = Store(url)
        try:
            st.upgrade()
            cfg = world.config()
            cfg.var_dir = world.var_dir.with_name("var-pg")
            reconcile(st, cfg)
            ensure_features(st, cfg)
            yield st
        finally:
            st.dispose()


@pytest.mark.postgres
def test_resolve_and_persist_on_postgres(pg_world, world, tmp_path):
    client = _client(pg_world, tmp_path)
    rec, gid = _library_person(world, pg_world)
    key = make_key(pg_world, "resolve,persist:frontdesk", name="pg-client")
    resp, body = _resolve(client, key, _changed_copy(rec, "PG-1"), persist=True)
    assert resp.status_code == 200, body
    assert body["band"] == "auto" and body["golden_id"] == gid and body["persisted"]["action"] == "linked"
    _resp, body = _resolve(client, key, STRANGER, persist=True)
    assert body["band"] == "none" and body["persisted"]["action"] == "created"
    created = body["persisted"]["golden_id"]
    _resp, body = _resolve(client, key, {**STRANGER, "source_id": "S-PG-2"})
    assert body["band"] == "auto" and body["golden_id"] == created
    resp, body = _resolve(client, key, {"names": [{"family": "A\x00b"}]})
    assert resp.status_code == 400
