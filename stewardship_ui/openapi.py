"""The OpenAPI 3 description of ``/api/v1``, generated from the marshmallow schemas."""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from mdm import __version__

from . import schemas as sch

ERRORS = {
    "400": "Malformed request (the `field` names the culprit), or a HETU in the URL.",
    "401": "No valid API key.",
    "403": "Outside the client's scopes.",
    "404": "Nothing found.",
    "410": "The golden record is retired.",
    "429": "Rate limit exceeded; see Retry-After.",
    "500": "Internal error.",
    "503": "The matching model must be retrained (`mdm reconcile`) after an upgrade.",
}
DESCRIPTION = """\
Look up master data (golden records) of persons by identifier, by golden id, their history and the
change feed.

* Authenticate with `Authorization: Bearer KEY` (keys from `mdm clients create`). Say why you ask
  in `X-Purpose`: every request is written to the access log (the identifier only as a keyed digest).
* A HETU is never accepted in a URL or query string (400 without data): look up by HETU with
  `POST /lookup`.
* Scopes decide which lookup types a client may use and which attribute groups it sees (identity,
  contact, address, health); HETUs are masked without the `hetu` scope. A person under
  turvakielto never has address or contact details returned.
* `POST /resolve` (scope `resolve`) matches one person record on entry: the best golden record with
  its band (`auto`, `review`, `none`), match probability and per-comparison explanation; with
  `"persist": true` (scope `persist:SOURCE`) the record is stored as a record of the client's source.
* `GET /ping` answers `{"status": "ok"}` without a key (liveness).
* Errors always have the shape `{"error": {"status", "code", "message", "field"}}`.
"""


def _errors(*codes: str) -> dict[str, Any]:
    return {c: {"description": ERRORS[c], "content": {"application/json": {"schema": "Error"}}} for c in codes}


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


def build_spec() -> dict[str, Any]:
    spec = APISpec(
        title="PAT-MDM API", version=__version__, openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
        servers=[{"url": "/api/v1"}],
        security=[{"bearer": []}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in (
        # Nested schemas are registered by the plugin on first use: GoldenRecord before LookupResponse.
        ("Error", sch.ErrorSchema), ("LookupRequest", sch.LookupRequestSchema),
        ("GoldenRecord", sch.GoldenRecordSchema), ("LookupResponse", sch.LookupResponseSchema),
        ("HistoryResponse", sch.HistoryResponseSchema), ("ChangesResponse", sch.ChangesResponseSchema),
        ("ResolveRequest", sch.ResolveRequestSchema), ("ResolveResponse", sch.ResolveResponseSchema),
        ("PingResponse", sch.PingResponseSchema),
    ):
        spec.components.schema(name, schema=schema)
    purpose = {"in": "header", "name": "X-Purpose", "required": False,
               "schema": {"type": "string", "maxLength": 200},
               "description": "Why the client asks (written to the access log)."}
    golden_id = {"in": "path", "name": "golden_id", "required": True,
                 "schema": {"type": "string", "minLength": 1, "maxLength": 40}}
    spec.path(path="/lookup", operations={"post": {
        "operationId": "lookup", "summary": "Golden records holding an identifier",
        "parameters": [purpose],
        "requestBody": {"required": True, "content": {"application/json": {"schema": "LookupRequest"}}},
        "responses": {**_ok("LookupResponse", "Every live holder; `shared` when there are several."),
                      **_errors("400", "401", "403", "404", "429", "500")},
    }})
    spec.path(path="/golden/{golden_id}", operations={"get": {
        "operationId": "getGolden", "summary": "One golden record (a merged id redirects to its survivor)",
        "parameters": [golden_id, purpose],
        "responses": {**_ok("GoldenRecord", "The record; `redirected_from` when a merged id was asked."),
                      **_errors("400", "401", "404", "410", "429", "500")},
    }})
    spec.path(path="/golden/{golden_id}/history", operations={"get": {
        "operationId": "getGoldenHistory", "summary": "History of one golden record, newest first",
        "parameters": [golden_id, purpose, {"in": "query", "schema": sch.HistoryQuerySchema}],
        "responses": {**_ok("HistoryResponse", "One page of history rows."),
                      **_errors("400", "401", "404", "429", "500")},
    }})
    spec.path(path="/changes", operations={"get": {
        "operationId": "getChanges", "summary": "Change feed: events after a cursor, oldest first",
        "parameters": [purpose, {"in": "query", "schema": sch.ChangesQuerySchema}],
        "responses": {**_ok("ChangesResponse", "One page of change events and the next cursor."),
                      **_errors("400", "401", "429", "500")},
    }})
    spec.path(path="/resolve", operations={"post": {
        "operationId": "resolve", "summary": "Match one person record on entry (optionally store it)",
        "parameters": [purpose],
        "requestBody": {"required": True, "content": {"application/json": {"schema": "ResolveRequest"}}},
        "responses": {**_ok("ResolveResponse", "The best golden record, its band, score and explanation."),
                      **_errors("400", "401", "403", "429", "500", "503")},
    }})
    spec.path(path="/ping", operations={"get": {
        "operationId": "ping", "summary": "Liveness (no key, no database)", "security": [],
        "responses": _ok("PingResponse", "The service is up."),
    }})
    return spec.to_dict()


def openapi_spec(app: Flask) -> dict[str, Any]:
    """The spec, built once per app (it only depends on the code)."""
    cached = app.extensions.get("mdm_openapi")
    if cached is None:
        cached = app.extensions["mdm_openapi"] = build_spec()
    return cached  # type: ignore[no-any-return]
