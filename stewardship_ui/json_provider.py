"""Flask's JSON responses, encoded by orjson.

Every API answer is a JSON document; Flask's default provider (``json.dumps``
with a Python ``default`` hook) was a measurable part of a lookup's CPU. This
provider writes the same documents - compact, keys sorted, and
what ``json.dumps`` cannot encode handed to Flask's own fallback (dates as HTTP
dates, decimals and UUIDs as strings, dataclasses as dicts) - except that
non-ASCII text is written as UTF-8 rather than ``\\u`` escapes. Indented
output (debug mode) and reading JSON stay Flask's.
"""
from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider, _default

# Dates and dataclasses go to Flask's fallback, so they come out as Flask writes them.
_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
            | orjson.OPT_SORT_KEYS)


class OrjsonProvider(DefaultJSONProvider):

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if set(kwargs) - {"separators"}:  # indent, sort_keys, ...: the standard library's
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=_default, option=_OPTIONS).decode("utf-8")
        except TypeError:  # what orjson refuses (integers beyond 64 bits, lone surrogates): Flask's way
            return super().dumps(obj, **kwargs)


def request_json() -> Any:
    """The request body as JSON: what ``request.get_json(silent=True)`` returns, read more cheaply.

    None when the request is not JSON or the body does not parse. A body of a
    declared length within ``MAX_CONTENT_LENGTH`` (every client of ours sends
    one) is read straight from the WSGI input, without werkzeug's stream
    wrappers, and parsed as Flask parses it. Bodies without a length go
    Flask's way (which also answers 413 to a body too large).
    """
    if not request.is_json:
        return None
    length = request.content_length
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if length is None or (limit is not None and length > limit):
        return request.get_json(silent=True)
    data = request.environ["wsgi.input"].read(length) if length else b""
    try:
        # The standard library, as Flask: orjson reads some integers beyond 64 bits as floats.
        return json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None


def json_response(doc: Any) -> Response:
    """``jsonify(doc)`` for a document of plain JSON types: the same bytes, without the provider's detour."""
    try:
        body = orjson.dumps(doc, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return jsonify(doc)  # dates, dataclasses, what orjson refuses: Flask's way
    return current_app.response_class(body, mimetype="application/json")
