"""The REST API for source systems (``/api/v1``), authenticated by API key.

Every data endpoint writes an ``access_log`` row (client, ``X-Purpose``,
endpoint, identifier type, keyed digest of the identifier, golden ids returned,
status) before its answer leaves; if the row cannot be written the answer is
withheld (500): no disclosure without a log entry.

The read endpoints (lookup, golden, history, changes) read and log through one
plain connection in autocommit (:func:`api_db`): no ORM session, no BEGIN and
COMMIT round trips (each statement is its own transaction; PostgreSQL's READ
COMMITTED gives every statement its own snapshot inside a transaction too, so
the reads see nothing different). Their log rows commit asynchronously on
PostgreSQL (see mdm/services/access_log.py for the trade-off); a lookup's row
is written by the lookup statement itself (one round trip in all) and
corrected here before the answer leaves if the answer says otherwise. Resolve
writes records, so it keeps the request's session and logs in the same
transaction as its writes.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import Connection

from mdm.services import lookup as svc
from mdm.services import resolve as resolve_svc
from mdm.services.access_log import (
    PendingAccess,
    correct_access,
    identifier_digest,
    record_access,
    write_access,
)
from mdm.services.accounts import ClientInfo
from mdm.services.resolve_store import persist as persist_record
from mdm.store.db import connection_alive
from rules.identity import load_match_rules

from . import schemas as sch
from .api_auth import ClientCache, RateLimiter, authenticate, check_rate
from .db import get_db, get_store
from .errors import ApiError, error_response
from .json_provider import json_response, request_json
from .openapi import openapi_spec

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_GOLDEN_ID = 40  # golden_record.id

# The two hot answers dump through the compiled form of their schema (same fields, same values).
_lookup_out = sch.compile_dump(sch.LookupResponseSchema())
_golden_out = sch.compile_dump(sch.GoldenRecordSchema())
_history_in = sch.HistoryQuerySchema()
_history_out = sch.HistoryResponseSchema()
_changes_in = sch.ChangesQuerySchema()
_changes_out = sch.ChangesResponseSchema()
_resolve_in = sch.ResolveRequestSchema()
_resolve_out = sch.ResolveResponseSchema()
#: Endpoints without an API key: the public description and the liveness probe.
PUBLIC_ENDPOINTS = frozenset({"api.openapi", "api.ping"})


@dataclass
class Access:
    """What the access log will say about this request (filled in by the view)."""

    endpoint: str
    identifier_type: str | None = None
    digest: str | None = None
    golden_ids: list[str] = field(default_factory=list)
    #: Log in the request's session transaction (endpoints that write) rather
    #: than on the read connection.
    in_session: bool = False
    #: The row the read statement may have written itself (lookup on PostgreSQL).
    pending: PendingAccess | None = None


def init_app_state(app: Any) -> None:
    app.extensions["mdm_api_clients"] = ClientCache(float(app.config["CLIENT_CACHE_SECONDS"]))
    app.extensions["mdm_api_limiter"] = RateLimiter()
    # Match-on-entry: the active model per worker, re-checked every few seconds;
    # bands from [matching] of mdm.toml (MATCHING) over rules/matching.toml.
    app.extensions["mdm_resolve_models"] = resolve_svc.ModelCache(
        float(app.config.get("RESOLVE_MODEL_CHECK_SECONDS", 5)))
    app.extensions["mdm_match_rules"] = load_match_rules(app.config.get("MATCHING") or {})
    app.extensions["mdm_api_kept"] = threading.local()  # see api_db
    app.teardown_appcontext(_close_api_db)


def api_db() -> Connection:
    """The request's autocommit connection of the read endpoints (made on first use, released at teardown).

    With ``API_KEEP_CONNECTION`` (set by ``mdm serve``: a gunicorn sync worker
    runs one request at a time on one thread) the connection stays checked out
    for the thread's life instead of going back to the pool after every
    request: in a py-spy profile of a worker, checkout and checkin were about
    a tenth of the lookup view's time. Before each request the kept connection gets the same socket check
    the pool would make at checkout (:func:`mdm.store.db.connection_alive`).
    """
    conn: Connection | None = g.get("api_db")
    if conn is None:
        kept = current_app.extensions["mdm_api_kept"] if current_app.config.get("API_KEEP_CONNECTION") else None
        conn = getattr(kept, "conn", None)
        if conn is not None and not connection_alive(conn):
            _drop(kept)
            conn = None
        if conn is None:
            conn = get_store().autocommit_engine.connect()
            if kept is not None:
                kept.conn = conn
        g.api_db = conn
        g.api_db_kept = kept is not None
    return conn


def _drop(kept: Any) -> None:
    conn, kept.conn = kept.conn, None
    if not conn.closed:
        conn.invalidate()  # the pool forgets the DBAPI connection rather than reusing it
        conn.close()


def _close_api_db(exc: BaseException | None = None) -> None:
    conn = g.pop("api_db", None)
    if conn is None:
        return
    if not g.pop("api_db_kept", False):
        conn.close()
    elif exc is not None or g.pop("api_failed", False) or conn.invalidated:
        # After an error nothing about the connection is assumed: the next request makes a new one.
        _drop(current_app.extensions["mdm_api_kept"])
    elif conn.in_transaction():
        conn.rollback()  # SQLAlchemy's autobegun marker; nothing is open on the server (autocommit)


def client() -> ClientInfo:
    return g.api_client  # type: ignore[no-any-return]


def view() -> svc.View:
    return svc.View.from_scopes(client().scopes)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return  # no key, no database
    c = authenticate(current_app.extensions["mdm_api_clients"])
    check_rate(current_app.extensions["mdm_api_limiter"], c)
    g.api_client = c


@bp.after_request
def _note_failure(response: Response) -> Response:
    # Errors are answered by handlers, so teardown sees no exception: it learns of one here.
    if response.status_code >= 500:
        g.api_failed = True
    return response


@bp.after_request
def _log_access(response: Response) -> Response:
    access: Access | None = g.pop("access", None)
    if access is None:
        return response
    status, pending = response.status_code, access.pending
    try:
        if pending is not None and pending.row_id is not None:
            # Written with the read; correct it only if the answer is not what it says.
            if (status, access.golden_ids) != (pending.status_code, pending.golden_ids):
                correct_access(api_db(), pending.row_id, status_code=status, golden_ids=access.golden_ids)
            return response
        fields = dict(
            endpoint=access.endpoint, status_code=status, client_name=client().name,
            purpose=request.headers.get("X-Purpose"), identifier_type=access.identifier_type,
            identifier_digest=access.digest, golden_ids=access.golden_ids,
        )
        if access.in_session:
            db = get_db()
            if status >= 500:
                db.rollback()  # the failed transaction cannot take the log row
            record_access(db, **fields)
            db.commit()
        else:
            conn = api_db()
            if status >= 500:
                conn.rollback()  # nothing to undo in autocommit; resets a failed statement's state
            write_access(conn, **fields)
    except Exception:  # noqa: BLE001 - any failure to log must withhold the answer
        log.exception("could not write the access log")
        if access.in_session:
            get_db().rollback()
        return error_response(500, "the access could not be logged")
    return response


def _service_error(exc: svc.LookupError_) -> Response:
    if isinstance(exc, svc.InvalidLookup):
        return error_response(400, str(exc), field=exc.field)
    status = {svc.NotPermitted: 403, svc.NotFound: 404, svc.Gone: 410}.get(type(exc), 400)
    return error_response(status, str(exc))


bp.register_error_handler(svc.LookupError_, _service_error)


def _digest(key: svc.LookupKey) -> str:
    secret = current_app.config["ACCESS_LOG_KEY"]
    value = f"{key.source}:{key.value}" if key.type == "source_record" else key.value
    return identifier_digest(secret, value)


def _storable(text: str) -> bool:
    """False for text no database column can hold (PostgreSQL rejects NUL, both reject lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _check_golden_id(golden_id: str) -> None:
    # Opaque ids are short printable strings; anything else cannot exist, and
    # querying with a NUL would make PostgreSQL fail rather than find nothing.
    if len(golden_id) > MAX_GOLDEN_ID or not golden_id.isprintable() or not _storable(golden_id):
        raise svc.NotFound("no golden record with this id")


@bp.post("/lookup")
def lookup() -> Response:
    """Golden records holding an identifier (the identifier goes in the body, never the URL)."""
    body = request_json()
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    data = sch.load_lookup_request(body)
    type_ = data["type"]
    g.access = access = Access("lookup", identifier_type=type_)
    # The client, read once: each read of ``g`` or ``request`` goes through a context-local proxy.
    caller = client()
    may_lookup = caller.scopes.may_lookup(type_)
    try:
        key = svc.parse_lookup(type_, data["value"], data.get("source"))
    except svc.InvalidLookup:
        if may_lookup:
            raise
        key = None
    if key is not None:
        access.digest = _digest(key)
    if not may_lookup:
        raise ApiError(403, f"this client may not look up by {type_}")
    assert key is not None
    if not (_storable(key.value) and _storable(key.source or "")):
        records = []  # no stored identifier holds a NUL or a lone surrogate
    else:
        # Set before the call: if it fails after writing the row, the row gets corrected, not doubled.
        access.pending = PendingAccess.of(
            endpoint=access.endpoint, client_name=caller.name, purpose=request.headers.get("X-Purpose"),
            identifier_type=type_, identifier_digest=access.digest)
        records = svc.lookup(api_db(), key, svc.View.from_scopes(caller.scopes), log=access.pending)
    access.golden_ids = [r["id"] for r in records]
    if not records:
        raise ApiError(404, "no golden record holds this identifier")
    return json_response(_lookup_out({
        "type": type_, "shared": len(records) > 1, "count": len(records), "results": records,
    }))


@bp.get("/golden/<golden_id>")
def golden(golden_id: str) -> Response:
    """One golden record; a merged id answers with its survivor."""
    _check_golden_id(golden_id)
    g.access = access = Access("golden", golden_ids=[golden_id])
    rec = svc.golden(api_db(), golden_id, view())
    if rec["id"] != golden_id:
        access.golden_ids.append(rec["id"])
    return json_response(_golden_out(rec))


@bp.get("/golden/<golden_id>/history")
def history(golden_id: str) -> Response:
    """The golden record's history, newest first."""
    args = _history_in.load(request.args)
    _check_golden_id(golden_id)
    g.access = Access("history", golden_ids=[golden_id])
    items, next_before = svc.history(api_db(), golden_id, view(), limit=args["limit"],
                                     before=args.get("before"))
    return jsonify(_history_out.dump({"golden_id": golden_id, "items": items, "next_before": next_before}))


@bp.get("/changes")
def changes() -> Response:
    """The change feed: events after a cursor, oldest first."""
    args = _changes_in.load(request.args)
    g.access = Access("changes")
    items, next_cursor = svc.changes(api_db(), since=args["since"], limit=args["limit"])
    return jsonify(_changes_out.dump({"items": items, "next_cursor": next_cursor}))


@bp.post("/resolve")
def resolve() -> Response:
    """Match-on-entry: the best golden record for one person record, optionally storing the record."""
    g.access = access = Access("resolve", in_session=True)
    scopes = client().scopes
    if not scopes.resolve:
        raise ApiError(403, "this client may not resolve records (needs the resolve scope)")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    data = _resolve_in.load(body)
    if data["persist"] and not scopes.persist_source:
        raise ApiError(403, "this client may not store records (needs persist:SOURCE)", field="persist")
    rec = resolve_svc.record_from_json(data["record"])
    db = get_db()
    try:
        res = resolve_svc.resolve(db, rec, models=current_app.extensions["mdm_resolve_models"],
                                  rules=current_app.extensions["mdm_match_rules"],
                                  source=scopes.persist_source or client().name, health=view().health)
    except resolve_svc.ModelNotReady as exc:
        raise ApiError(503, str(exc), code="unavailable") from None
    if res.hetu_values:
        # The auditor's handle on "who resolved this HETU": a keyed digest, never the value.
        access.identifier_type = "hetu"
        access.digest = identifier_digest(current_app.config["ACCESS_LOG_KEY"], res.hetu_values[0])
    best = res.best if res.band != "none" else None
    access.golden_ids = [x.golden_id for x in ([best] if best else []) + res.alternatives]
    persisted = None
    if data["persist"]:
        persisted = persist_record(db, rec, res, source=scopes.persist_source or "",
                                   actor=f"api:{client().name}")
        if persisted.golden_id and persisted.golden_id not in access.golden_ids:
            access.golden_ids.append(persisted.golden_id)
    top = res.best
    return jsonify(_resolve_out.dump({
        "band": res.band, "golden_id": best.golden_id if best else None,
        "score": top.probability if top else None, "match_weight": top.match_weight if top else None,
        "rule": top.rule if top else None, "explanation": top.explanation if top else None,
        "alternatives": [{"golden_id": x.golden_id, "band": x.band, "score": x.probability,
                          "match_weight": x.match_weight, "rule": x.rule} for x in res.alternatives],
        "candidates": res.candidates, "model_version": res.model_version,
        "persisted": persisted.__dict__ if persisted else None,
    }))


@bp.get("/ping")
def ping() -> Response:
    """Liveness: answers without a key and without touching the database."""
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_spec(current_app))
