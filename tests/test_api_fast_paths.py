"""The REST API's hot-path shortcuts answer exactly as the plain paths would.

* compiled response dumping (schemas.compile_dump) equals marshmallow's dump;
* the web app's pooled connections are checked by a socket poll, which must
  replace a connection whose server session ended, without an error;
* a statement on an autocommit session the server already ended (the poll
  lost the race) runs once more on a fresh connection; inside a transaction
  it does not;
* the autocommit pool goes away with its store.
"""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager

import psycopg

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from flask import request
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mdm.services import hot_sql
from mdm.store import Store
from stewardship_ui import create_app
from stewardship_ui import schemas as sch
from test_web_support import *  # noqa: F401,F403 - fixtures
from test_web_support import ACCESS_KEY, bearer, make_key, seed_world

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5), st.binary(max_size=3),
                    st.floats(allow_nan=False, width=16))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=6)


def _maybe(keys: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """Dicts with any subset of ``keys`` (and a stray key now and then)."""
    return st.fixed_dictionaries({}, optional={**keys, "stray": VALUES})


IDENTIFIER = _maybe({k: SCALARS for k in ("type", "value", "masked", "source", "status", "quality")})
RECORD = _maybe({
    "id": SCALARS, "kind": SCALARS, "status": SCALARS, "shared": SCALARS, "turvakielto": SCALARS,
    "redirected_from": SCALARS,
    "attributes": st.one_of(st.none(), _maybe({k: VALUES for k in sch.AttributesSchema().fields})),
    "identifiers": st.one_of(st.none(), st.lists(IDENTIFIER, max_size=3)),
    "sources": st.lists(_maybe({"source": SCALARS, "source_id": SCALARS}), max_size=2),
    "relations": _maybe({"guardians": st.lists(SCALARS, max_size=2), "children": st.lists(SCALARS, max_size=2)}),
})
ANSWER = _maybe({"type": SCALARS, "shared": SCALARS, "count": SCALARS, "results": st.lists(RECORD, max_size=3)})


def _dump_or_error(fn, obj):  # type: ignore[no-untyped-def]
    try:
        return fn(obj)
    except Exception as exc:  # noqa: BLE001 - both must fail alike on values they cannot dump
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(ANSWER)
def test_compiled_dump_equals_marshmallow(answer):
    schema = sch.LookupResponseSchema()
    assert _dump_or_error(sch.compile_dump(schema), answer) == _dump_or_error(schema.dump, answer)


def test_compiled_dump_refuses_what_it_does_not_know():
    class WithDefault(sch.Schema):
        x = sch.fields.Str(dump_default="d")

    class WithMethod(sch.Schema):
        x = sch.fields.Method("get_x")

        def get_x(self, obj):  # type: ignore[no-untyped-def]
            return 1

    for schema in (WithDefault(), WithMethod(), sch.GoldenRecordSchema(many=True)):
        with pytest.raises(TypeError):
            sch.compile_dump(schema)


@contextmanager
def _named_api(pg_schema_url: str, tmp_path, **config):  # type: ignore[no-untyped-def]
    """(store, app, application name, a lookup poster) on a seeded store whose sessions carry a unique name."""
    name = f"mdm-test-{uuid.uuid4().hex[:8]}"
    url = make_url(pg_schema_url).update_query_dict({"application_name": name}).render_as_string(
        hide_password=False)
    store = Store(url, liveness="socket")
    try:
        store.upgrade()
        world = seed_world(store)
        app = create_app({"TESTING": True, "MDM_STORE": store, "VAR_DIR": str(tmp_path / "var"),
                          "SECRET_KEY": "k", "ACCESS_LOG_KEY": ACCESS_KEY, "CLIENT_CACHE_SECONDS": 0, **config})
        client = app.test_client()
        key = make_key(store, "all")

        def lookup(**body: str):  # type: ignore[no-untyped-def]
            return client.post("/api/v1/lookup", json=body or {"type": "hetu", "value": world.mother_hetu},
                               headers=bearer(key))

        yield store, app, name, lookup
    finally:
        store.dispose()


@pytest.mark.parametrize("keep", [False, True], ids=["per-request", "kept"])
def test_a_terminated_server_session_is_replaced_at_checkout(pg_schema_url, tmp_path, keep):
    # What pre-ping did, without its round trip: the web app's pools poll the socket at checkout,
    # and a connection kept across requests (mdm serve) gets the same poll before each request.
    with _named_api(pg_schema_url, tmp_path, API_KEEP_CONNECTION=keep) as (store, _app, name, post):
        def lookup() -> int:
            return post().status_code

        assert lookup() == 200
        with store.engine.connect() as admin:
            ended = admin.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name AND pid <> pg_backend_pid()"), {"name": name}).scalar()
        assert ended >= 1  # the API's pooled connections
        assert lookup() == 200
        assert lookup() == 200


def _end_session_and_wait(admin_engine, pid: int) -> None:
    # pg_terminate_backend only signals; wait until the backend is really gone.
    with admin_engine.connect() as admin:
        assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        for _ in range(200):
            if not admin.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                 {"pid": pid}).scalar():
                return
            time.sleep(0.01)
    raise AssertionError("the backend did not end")


def test_a_statement_on_an_ended_autocommit_session_runs_again(pg_schema_url):
    store = Store(pg_schema_url, liveness="socket")
    try:
        with store.autocommit_engine.connect() as conn:
            first = hot_sql.rows(conn, _PID, {})[0][0]
            _end_session_and_wait(store.engine, first)
            again = hot_sql.rows(conn, _PID, {})[0][0]
            assert again != first  # a new server session answered
            hot_sql.execute(conn, _PID, {})
    finally:
        store.dispose()


def test_a_statement_inside_a_transaction_is_not_run_again(pg_schema_url):
    store = Store(pg_schema_url, liveness="socket")
    try:
        with store.engine.connect() as conn:
            pid = hot_sql.rows(conn, _PID, {})[0][0]
            _end_session_and_wait(store.engine, pid)
            with pytest.raises(psycopg.OperationalError):
                hot_sql.rows(conn, _PID, {})
    finally:
        store.dispose()


_PID = text("SELECT pg_backend_pid()")


def test_store_disposes_its_autocommit_pool(sqlite_store):
    engine = sqlite_store.autocommit_engine
    assert sqlite_store.autocommit_engine is engine
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    assert engine.pool.checkedin() == 1
    sqlite_store.dispose()
    assert engine.pool.checkedin() == 0


BODY_VALUES = st.one_of(st.none(), st.integers(0, 3), st.sampled_from(["", "x", "phone", "source_record", "hetu",
                                                                          "L1", "x" * 101, "x" * 321]),
                        st.text(max_size=4))


@settings(max_examples=500, deadline=None)
@given(st.fixed_dictionaries({}, optional={"type": st.one_of(st.sampled_from(sch.LOOKUP_TYPES), BODY_VALUES),
                                            "value": BODY_VALUES, "source": BODY_VALUES, "extra": BODY_VALUES}))
def test_lookup_request_shortcut_equals_the_schema(body):
    def load(fn):  # type: ignore[no-untyped-def]
        try:
            return fn(body)
        except sch.ValidationError as exc:
            return exc.messages

    assert load(sch.load_lookup_request) == load(sch.LookupRequestSchema().load)


def test_orjson_responses_say_what_flasks_own_json_says():
    import dataclasses
    import decimal
    import json
    from datetime import date, datetime

    from flask import Flask

    @dataclasses.dataclass
    class Item:
        n: int
        at: datetime

    body = {"b": [1, 2.5, None, True, "ä ö", -0.0, 10**15], "a": {
        "when": datetime(2026, 1, 2, 3, 4, 5), "day": date(2026, 1, 1), "amount": decimal.Decimal("1.50"),
        "id": uuid.UUID(int=5), "item": Item(1, datetime(2020, 1, 1)), "nested": {"z": [], "y": {}}}}
    ours = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "SECRET_KEY": "k", "ACCESS_LOG_KEY": "k"})
    plain = Flask("plain")
    with ours.app_context():
        fast = ours.json.response(body).get_data(as_text=True)
    with plain.app_context():
        slow = plain.json.response(body).get_data(as_text=True)
    assert json.loads(fast) == json.loads(slow)
    assert list(json.loads(fast)) == ["a", "b"]  # keys sorted, as Flask sorts them
    with ours.app_context():
        with pytest.raises(TypeError):
            ours.json.dumps({"x": object()})


def test_json_columns_and_responses_take_what_orjson_refuses():
    import json

    from mdm.store.db import json_text, json_value

    big = {"n": 2**70, "s": "x"}
    assert json.loads(json_text(big)) == big  # beyond 64 bits: the standard library writes it
    assert json_value('{"x": NaN}')["x"] != json_value('{"x": NaN}')["x"]  # NaN rows written before
    assert json_value(json_text({"a": [1, "ä"]})) == {"a": [1, "ä"]}
    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "SECRET_KEY": "k", "ACCESS_LOG_KEY": "k"})
    with app.app_context():
        assert json.loads(app.json.response({"n": 2**70}).get_data(as_text=True)) == {"n": 2**70}


# --------------------------------------------------------------------------
# Per-request shortcuts of a lookup
# --------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(RECORD)
def test_compiled_golden_dump_equals_marshmallow(record):
    schema = sch.GoldenRecordSchema()
    assert _dump_or_error(sch.compile_dump(schema), record) == _dump_or_error(schema.dump, record)


def _clean_purpose_as_before(purpose):  # type: ignore[no-untyped-def]
    if not purpose:
        return None
    return "".join(ch for ch in purpose if ch.isprintable()).strip()[:200] or None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=250), st.sampled_from(["benchmark", "  x  ", "a\nb", "\t", "x" * 300])))
def test_clean_purpose_shortcut_equals_the_filter(purpose):
    from mdm.services.access_log import clean_purpose

    assert clean_purpose(purpose) == _clean_purpose_as_before(purpose)


def test_pending_access_fields_are_the_access_row_fields():
    from mdm.services.access_log import PendingAccess, access_row

    for kw in ({"endpoint": "lookup", "client_name": "c", "purpose": " care\x00 ", "identifier_type": "hetu",
                "identifier_digest": "d" * 64},
               {"endpoint": "e" * 150, "purpose": None},
               {"endpoint": "lookup", "username": "u", "purpose": "p" * 300}):
        pending = PendingAccess.of(**kw).fields
        row = access_row(status_code=200, **kw)
        del row["status_code"], row["golden_ids"]
        assert set(pending) == set(row)
        assert {k: v for k, v in pending.items() if k != "created_at"} == {
            k: v for k, v in row.items() if k != "created_at"}
        assert abs((pending["created_at"] - row["created_at"]).total_seconds()) < 5


def test_assemble_sorts_and_dedups_relations_and_orders_sources_and_identifiers():
    from mdm.services.lookup import View, assemble

    view = View(frozenset({"identity", "contact"}), None, reveal_hetu=True)
    rows = [("g1", "person", "active", None, {"turvakielto": {"value": False}})]
    links = [("g1", "src-b", "csv", "2", "phone", "+3584", "active", "valid"),
             ("g1", "src-a", "csv", "9", "email", "b@x.fi", "active", "valid"),
             ("g1", "src-a", "csv", "1", "email", "a@x.fi", "active", "valid"),
             ("g1", "src-a", "csv", "1", None, None, None, None)]
    relations = [("g1", "c2"), ("g1", "c1"), ("g1", "c2"), ("p1", "g1")]
    rec = assemble(rows, links, relations, view)[0]
    assert rec["relations"] == {"guardians": ["p1"], "children": ["c1", "c2"]}
    assert rec["sources"] == [{"source": "src-a", "source_id": "1"}, {"source": "src-a", "source_id": "9"},
                              {"source": "src-b", "source_id": "2"}]
    assert [(i["type"], i["value"]) for i in rec["identifiers"]] == [
        ("email", "a@x.fi"), ("email", "b@x.fi"), ("phone", "+3584")]


def test_hot_statements_share_one_cursor_and_survive_an_error(pg_schema_url):
    store = Store(pg_schema_url, liveness="socket")
    try:
        with store.autocommit_engine.connect() as conn:
            assert hot_sql.rows(conn, _PID, {}) == hot_sql.rows(conn, _PID, {})
            driver = conn.connection.driver_connection
            cursor = hot_sql._cursor(driver)
            with pytest.raises(psycopg.errors.DivisionByZero):
                hot_sql.rows(conn, text("SELECT 1 / 0"), {})
            assert hot_sql.rows(conn, text("SELECT :x + 1 AS y"), {"x": 1})[0][0] == 2
            assert hot_sql._cursor(driver) is cursor  # the same cursor, usable after the failed statement
    finally:
        store.dispose()


# --------------------------------------------------------------------------
# The read connection kept across requests (mdm serve), request bodies and answers
# --------------------------------------------------------------------------
def _backend_pids(store: Store, name: str) -> set[int]:
    with store.engine.connect() as admin:
        return set(admin.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name "
                                      "AND pid <> pg_backend_pid()"), {"name": name}).scalars())


def test_a_kept_connection_serves_every_request_and_is_dropped_after_an_error(pg_schema_url, tmp_path, monkeypatch):
    from mdm.services import lookup as lookup_svc

    with _named_api(pg_schema_url, tmp_path, TESTING=False, CLIENT_CACHE_SECONDS=60,
                    API_KEEP_CONNECTION=True) as (store, app, name, post):
        client = app.test_client()
        key = make_key(store, "all", name="golden-reader")

        def lookup() -> int:
            return post().status_code

        assert lookup() == 200
        gid = post().get_json()["results"][0]["id"]
        kept = app.extensions["mdm_api_kept"].conn
        first = _backend_pids(store, name)
        for _ in range(5):
            assert lookup() == 200
            assert client.get(f"/api/v1/golden/{gid}", headers=bearer(key)).status_code == 200
            assert post(type="phone", value="+358 40 000 0000").status_code == 404
        assert app.extensions["mdm_api_kept"].conn is kept
        assert _backend_pids(store, name) == first  # no new server session (the key check used the pool)
        assert store.autocommit_engine.pool.checkedout() == 1

        def broken(*_a, **_k):  # an unexpected failure inside the request
            raise RuntimeError("boom")

        monkeypatch.setattr(lookup_svc, "lookup", broken)
        assert lookup() == 500
        assert app.extensions["mdm_api_kept"].conn is None  # nothing assumed about it after an error
        assert store.autocommit_engine.pool.checkedout() == 0
        monkeypatch.undo()
        assert lookup() == 200
        assert app.extensions["mdm_api_kept"].conn is not kept
        app.extensions["mdm_api_kept"].conn.close()  # closed behind its back: replaced, not reused
        assert lookup() == 200
        assert not app.extensions["mdm_api_kept"].conn.closed


def test_mdm_serve_keeps_the_read_connection_of_its_sync_workers(tmp_path, monkeypatch):
    from stewardship_ui import serve
    from stewardship_ui.serve import MdmServer, gunicorn_options

    settled: list[int] = []
    # Not in the test process itself: freezing pytest's heap would outlive this test.
    monkeypatch.setattr(serve, "settle_heap", lambda: settled.append(1))
    monkeypatch.setenv("MDM_DATABASE_URL", f"sqlite:///{tmp_path / 'mdm.sqlite'}")
    monkeypatch.setenv("MDM_VAR_DIR", str(tmp_path / "var"))
    server = MdmServer(gunicorn_options("127.0.0.1", 0, 2), None)
    app = server.load()
    assert app.config["API_KEEP_CONNECTION"] is True
    # Each worker settles its heap once it is built, and again after each new match-on-entry model.
    assert settled == [1]
    app.extensions["mdm_resolve_models"].on_new_model()
    assert settled == [1, 1]
    server.cfg.set("threads", 4)  # gthread: several requests at once per worker
    assert server.load().config["API_KEEP_CONNECTION"] is False


SETTLE_HEAP = """
import gc, weakref
from stewardship_ui.serve import settle_heap

class Node:
    pass

a = Node()
a.self = a  # a cycle: only the cyclic collector frees it
alive = weakref.ref(a)
tracked = len(gc.get_objects())
settle_heap()
assert gc.get_freeze_count() >= tracked // 2, (gc.get_freeze_count(), tracked)
assert len(gc.get_objects()) < 1000  # what a full collection walks from now on
del a
gc.collect()
assert alive() is not None  # frozen: full collections pass it by
settle_heap()  # (after a new model) unfreeze, collect, freeze again
assert alive() is None
print("settled", tracked)
"""


def test_settle_heap_exempts_what_is_alive_from_full_collections_until_the_next_settle():
    import subprocess
    import sys

    # A process of its own: gc.freeze is process-wide.
    out = subprocess.run([sys.executable, "-c", SETTLE_HEAP], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("settled ")


JSON_DOCS = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=6),
                                   st.floats(allow_nan=False, allow_infinity=False)),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                         max_leaves=8)
RAW_BODIES = st.one_of(
    JSON_DOCS.map(lambda d: __import__("json").dumps(d).encode()),
    st.sampled_from([b"", b"{", b'{"type": NaN}', b'{"value": "\\ud800"}', b'{"value": "\\ud800x"}',
                     '{"type": "hetu"}'.encode("utf-16"), b"\xff\xfe{}", b'{"a": 1} x', b"[1, 2]", b'"s"',
                     b'{"a": 1, "a": 2}', b"  {}  ", b"null"]),
    st.binary(max_size=12))


@settings(max_examples=400, deadline=None)
@given(RAW_BODIES, st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                    "application/problem+json", None]))
def test_request_json_reads_what_get_json_reads(body, content_type):
    import math

    from stewardship_ui.json_provider import request_json

    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "SECRET_KEY": "k", "ACCESS_LOG_KEY": "k"})
    kw = {"method": "POST", "data": body, "content_type": content_type}
    with app.test_request_context("/", **kw):
        ours = request_json()
    with app.test_request_context("/", **kw):
        flasks = request.get_json(silent=True)

    def same(a, b) -> bool:  # type: ignore[no-untyped-def]
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        if isinstance(a, dict) and isinstance(b, dict):
            return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return type(a) is type(b) and a == b

    assert same(ours, flasks)


def test_request_json_without_a_length_or_beyond_the_limit_goes_flasks_way():
    from werkzeug.exceptions import RequestEntityTooLarge

    from stewardship_ui.json_provider import request_json

    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "SECRET_KEY": "k", "ACCESS_LOG_KEY": "k"})
    big = b'{"value": "' + b"x" * (64 * 1024) + b'"}'
    with app.test_request_context("/", method="POST", data=big, content_type="application/json"):
        with pytest.raises(RequestEntityTooLarge):
            request_json()
    import io

    answers = []
    for read in (request_json, lambda: request.get_json(silent=True)):
        environ = {"wsgi.input_terminated": True}  # a server that de-chunks the body itself
        with app.test_request_context("/", method="POST", input_stream=io.BytesIO(b'{"type": "phone"}'),
                                      content_type="application/json", headers={"Transfer-Encoding": "chunked"},
                                      environ_overrides=environ):
            assert request.content_length is None
            answers.append(read())
    assert answers == [{"type": "phone"}] * 2


@settings(max_examples=300, deadline=None)
@given(JSON_DOCS)
def test_json_response_is_jsonify(doc):
    from flask import jsonify

    from stewardship_ui.json_provider import json_response

    app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "SECRET_KEY": "k", "ACCESS_LOG_KEY": "k"})
    with app.test_request_context("/"):
        ours, flasks = json_response(doc), jsonify(doc)
        assert ours.get_data() == flasks.get_data()
        assert ours.mimetype == flasks.mimetype == "application/json"
        assert ours.status_code == flasks.status_code == 200
