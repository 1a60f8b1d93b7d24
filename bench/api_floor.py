"""Floors under the lookup-throughput goal, measured on the same server in the same run.

The goal compares a lookup with a hello-world endpoint. These two endpoints
say how much of that budget any lookup design must spend before it does what
our lookup does, so a bench run shows whether the goal is within reach of the
architecture (a WSGI worker asking PostgreSQL per request) on the machine at
hand:

* ``GET /bench-floor/select1``: the hello-world plus one prepared
  ``SELECT 1`` on the API's read connection - the price of one database
  round trip and nothing else.
* ``POST /bench-floor/lookup``: the least a lookup by identifier can do -
  authenticate and rate-limit the client, read and validate the body,
  normalise and digest the identifier, one statement from the identifier to
  its holders' golden rows (three index lookups), the privacy rules on their
  attributes, the JSON answer. No access-log row, no identifiers, sources or
  relations: an optimistic bound for a design that keeps a precomputed answer
  per golden record and writes the access log in batches. It leaves out
  privacy rules as well (the health-source rule, HETU quality): it answers
  the bench's synthetic store and nothing else.

``python -m bench.api_floor --host H --port P --workers N [--config PATH]``
serves the production app under the production gunicorn setup (``mdm
serve``'s) with this bench-only blueprint added. It is never part of the
product: nothing outside ``bench/`` imports it.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify
from sqlalchemy import column, text

from mdm.services import hot_sql
from mdm.services import lookup as svc
from mdm.services.access_log import identifier_digest
from mdm.store.models.base import JsonType
from stewardship_ui import csrf, schemas
from stewardship_ui.api import api_db
from stewardship_ui.api_auth import authenticate, check_rate
from stewardship_ui.errors import ApiError
from stewardship_ui.json_provider import json_response, request_json

bp = Blueprint("bench_floor", __name__, url_prefix="/bench-floor")

_SELECT1 = text("SELECT 1")
# Identifier -> link -> golden record. The lookup's identifier rules reduced to one type and
# "not invalid" (no HETU quality rule, no Kela card as HETU evidence), live golden records only.
_HOLDERS = text(
    "SELECT gr.id, gr.kind, gr.status, gr.redirect_to, gr.attributes FROM identifier i "
    "JOIN golden_link gl ON gl.source_record_id = i.source_record_id "
    "JOIN golden_record gr ON gr.id = gl.golden_id "
    "WHERE i.type = :type AND i.value = :value AND i.quality <> 'invalid' AND gr.status = 'active'"
).columns(column("id"), column("kind"), column("status"), column("redirect_to"), column("attributes", JsonType))


@bp.get("/select1")
def select1() -> Response:
    rows = hot_sql.rows(api_db(), _SELECT1, {})
    return jsonify({"status": "ok", "one": rows[0][0]})


@bp.post("/lookup")
def lookup() -> Response:
    client = authenticate(current_app.extensions["mdm_api_clients"])
    check_rate(current_app.extensions["mdm_api_limiter"], client)
    g.api_client = client
    body = request_json()
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    data = schemas.load_lookup_request(body)
    if not client.scopes.may_lookup(data["type"]):
        raise ApiError(403, f"this client may not look up by {data['type']}")
    try:
        key = svc.parse_lookup(data["type"], data["value"], data.get("source"))
    except svc.InvalidLookup as exc:
        raise ApiError(400, str(exc), field=exc.field) from None
    if key.type == "source_record":
        raise ApiError(400, "the floor looks up identifiers only", field="type")
    identifier_digest(current_app.config["ACCESS_LOG_KEY"], key.value)  # what the access log would get
    rows = hot_sql.rows(api_db(), _HOLDERS, {"type": key.search_types[0], "value": key.value})
    holders = {row[0]: row for row in rows}  # one person may hold the value in several records
    records = svc.assemble([holders[gid] for gid in sorted(holders)], [], [], svc.View.from_scopes(client.scopes))
    if not records:
        raise ApiError(404, "no golden record holds this identifier")
    return json_response({"type": key.type, "count": len(records), "results": records})


def add_floor(app: Flask) -> Flask:
    """The app with the floor endpoints (before it has answered anything)."""
    app.register_blueprint(bp)
    csrf.exempt(bp)
    return app


def main(argv: list[str]) -> int:
    from mdm.config import load_config
    from stewardship_ui import serve

    parser = argparse.ArgumentParser(prog="python -m bench.api_floor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--config", default=None, help="mdm.toml (default: as `mdm serve` finds it)")
    args = parser.parse_args(argv)

    class FloorServer(serve.MdmServer):
        def load(self) -> Any:
            return add_floor(super().load())

    config = load_config(args.config)
    serve.run(config, host=args.host, port=args.port, workers=args.workers, server_class=FloorServer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
