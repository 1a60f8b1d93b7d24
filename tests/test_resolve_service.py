"""mdm.services.resolve below the API: holder counts, the model cache, health data, an empty store."""
from __future__ import annotations

from sqlalchemy import func, select, update

from mdm.services import resolve as R
from mdm.store import models as m
from rules.identity import load_match_rules
from stewardship_ui import create_app
from test_resolve_support import build_demo, canonical, copy_store, golden_of, source_records
from test_web_support import ACCESS_KEY, bearer, make_key


def _row(given: list[str], birth: str | None, holders: int | None = None) -> dict:
    return {"given_names": given, "birth_date": birth, "phone_holders": holders}


def test_holder_count_follows_the_batch_rule():
    anna = _row(["anna", "maria"], "1980-01-01", 1)
    # Alone, or the same holder again (shares a given name, birth dates agree or one is missing).
    assert R.holder_count(_row(["anna"], None), [], "phone") == 1
    assert R.holder_count(_row(["maria"], "1980-01-01"), [anna], "phone") == 1
    # Somebody else: a child with the mother's phone; a namesake born on another day.
    assert R.holder_count(_row(["aino"], "2015-05-01"), [anna], "phone") == 2
    assert R.holder_count(_row(["anna"], "2001-01-01"), [anna], "phone") == 2
    # Only some of a family's records found: the stored count stands, plus one for a newcomer.
    assert R.holder_count(_row(["aino"], "2015-05-01"), [{**anna, "phone_holders": 3}], "phone") == 4
    assert R.holder_count(_row(["anna"], None), [{**anna, "phone_holders": 3}], "phone") == 3


def _app(store, tmp_path):
    return create_app({"TESTING": True, "MDM_STORE": store, "VAR_DIR": str(tmp_path / "var"),
                       "SECRET_KEY": "k", "ACCESS_LOG_KEY": ACCESS_KEY, "CLIENT_CACHE_SECONDS": 0,
                       "RESOLVE_MODEL_CHECK_SECONDS": 0}).test_client()


def test_before_any_reconciliation_everything_is_new(sqlite_store, tmp_path):
    client = _app(sqlite_store, tmp_path)
    key = make_key(sqlite_store, "resolve,persist:frontdesk")
    record = {"source_id": "A-1", "names": [{"given": "Anna", "family": "Aalto"}], "birth_date": "1990-02-03"}
    body = client.post("/api/v1/resolve", json={"record": record, "persist": True}, headers=bearer(key)).get_json()
    assert body["band"] == "none" and body["model_version"] is None and body["candidates"] == 0
    assert body["persisted"]["action"] == "created"


def test_model_cache_picks_up_a_new_model(tmp_path_factory, tmp_path):
    store = copy_store(build_demo(tmp_path_factory.getbasetemp()), tmp_path)
    loads: list[int] = []
    cache = R.ModelCache(ttl=0, on_new_model=lambda: loads.append(cache._loaded.version))
    with store.session() as s:
        first = cache.get(s)
        assert cache.get(s) is not first and cache.get(s).scorer is first.scorer  # re-checked, not reloaded
        assert loads == [first.version]
        doc = s.scalar(select(m.MatchingModel.document).where(m.MatchingModel.version == first.version))
        s.execute(update(m.MatchingModel).values(active=False))
        s.add(m.MatchingModel(version=first.version + 1, settings_fingerprint=doc["settings_fingerprint"],
                              document={**doc, "version": first.version + 1}, active=True))
    with store.session() as s:
        assert cache.get(s).version == first.version + 1
        assert cache.get(s).version == first.version + 1
    assert loads == [first.version, first.version + 1]  # called once per model, after it is in place
    slow = R.ModelCache(ttl=3600)
    with store.session() as s:
        loaded = slow.get(s)
        s.execute(update(m.MatchingModel).values(active=False))
    with store.session() as s:
        assert slow.get(s) is loaded  # within the ttl the cached model answers, without a query
    store.dispose()


def test_health_records_match_only_for_clients_with_the_health_group(tmp_path_factory, tmp_path):
    world = build_demo(tmp_path_factory.getbasetemp())
    store = copy_store(world, tmp_path)
    with store.session() as s:
        only_health = set(s.scalars(
            select(m.GoldenLink.golden_id)
            .join(m.SourceRecord, m.SourceRecord.id == m.GoldenLink.source_record_id)
            .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
            .group_by(m.GoldenLink.golden_id)
            .having(func.min(m.SourceSystem.name) == "health", func.max(m.SourceSystem.name) == "health")))
    sid, rec = next((sid, r) for sid, r in sorted(source_records(world, "health").items())
                    if golden_of(store, "health", sid) in only_health and r.names and r.birth_date)
    gid = golden_of(store, "health", sid)
    record = canonical(rec, source_id="X-1")
    record["identifiers"] = [i for i in record.get("identifiers", []) if i["type"] in ("phone", "email")]
    client = _app(store, tmp_path)
    seen = client.post("/api/v1/resolve", json={"record": record},
                       headers=bearer(make_key(store, "resolve,attrs:health", name="nurse"))).get_json()
    assert seen["band"] == "auto" and seen["golden_id"] == gid
    hidden = client.post("/api/v1/resolve", json={"record": record},
                         headers=bearer(make_key(store, "resolve", name="library"))).get_json()
    assert hidden["golden_id"] != gid and gid not in [a["golden_id"] for a in hidden["alternatives"]]
    store.dispose()


def test_rules_and_candidates_of_a_record(tmp_path_factory, tmp_path):
    """Every blocking rule the record takes part in finds its own stored feature row."""
    world = build_demo(tmp_path_factory.getbasetemp())
    store = copy_store(world, tmp_path)
    with store.session() as s:
        rid, features = s.execute(select(m.MatchFeature.source_record_id, m.MatchFeature.features)
                                  .where(m.MatchFeature.phone_block.is_not(None),
                                         m.MatchFeature.birth_date.is_not(None))).first()
        found = {c.record_id: c for c in R.fetch_candidates(s, features)}
        expected = sum(bit for bit, conds in R.BLOCKING if all(
            features.get(param) is not None and features.get(col) == features.get(param)
            for col, param in conds))
        assert found[rid].bits == expected and expected & 2 and expected & 8
        res = R.resolve(s, R.record_from_json({"names": [{"given": "Qqq", "family": "Zzz"}]}),
                        models=R.ModelCache(0), rules=load_match_rules())
        assert res.band == "none" and res.best is None
    store.dispose()
