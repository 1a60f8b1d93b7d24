"""bench/api_floor.py: the bench-only floor endpoints do the work they claim to (on SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from bench.api_floor import add_floor
from test_web_support import *  # noqa: F401,F403 - fixtures
from test_web_support import bearer, make_key


@pytest.fixture
def floor_client(app):
    return add_floor(app).test_client()


def test_select1_makes_one_round_trip_without_a_key(floor_client):
    resp = floor_client.get("/bench-floor/select1")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok", "one": 1}


def test_least_lookup_authenticates_and_checks_scopes(floor_client, store, world):
    body = {"type": "library_card", "value": "L1001"}
    assert floor_client.post("/bench-floor/lookup", json=body).status_code == 401
    key = make_key(store, "lookup:phone")
    assert floor_client.post("/bench-floor/lookup", json=body, headers=bearer(key)).status_code == 403


def test_least_lookup_answers_what_the_lookup_answers_of_the_attributes(floor_client, store, world):
    key = make_key(store, "lookup:hetu,lookup:phone,attrs:identity,attrs:contact,attrs:address")
    for type_, value in (("hetu", " 131052-308t "), ("phone", "040 123 4567"), ("hetu", world.secret_hetu)):
        body = {"type": type_, "value": value}
        floor = floor_client.post("/bench-floor/lookup", json=body, headers=bearer(key))
        real = floor_client.post("/api/v1/lookup", json=body, headers=bearer(key))
        assert floor.status_code == real.status_code == 200
        got = [(r["id"], r["turvakielto"], r["attributes"]) for r in floor.get_json()["results"]]
        assert got == [(r["id"], r["turvakielto"], r["attributes"]) for r in real.get_json()["results"]]
        assert world.mother_hetu not in floor.get_data(as_text=True)  # masked: no hetu scope
    secret = floor_client.post("/bench-floor/lookup", json={"type": "hetu", "value": world.secret_hetu},
                               headers=bearer(key)).get_json()["results"][0]
    assert secret["turvakielto"] is True and not {"address", "phone", "email"} & set(secret["attributes"])


def test_least_lookup_refuses_a_bad_value_and_finds_nothing_unknown(floor_client, store, world):
    key = make_key(store, "lookup:hetu,lookup:phone")
    bad = floor_client.post("/bench-floor/lookup", json={"type": "hetu", "value": "131052-308X"},
                            headers=bearer(key))
    assert bad.status_code == 400 and "131052" not in bad.get_data(as_text=True)
    none = floor_client.post("/bench-floor/lookup", json={"type": "phone", "value": "+358401111111"},
                             headers=bearer(key))
    assert none.status_code == 404
