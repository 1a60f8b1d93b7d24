"""One stable JSON error shape for the API.

``{"error": {"status": 400, "code": "bad_request", "message": "...", "field": "type"}}``

``field`` names the request field at fault, or is null. Messages never echo a
submitted value (it may be a HETU).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask, Response, jsonify, render_template, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 410: "gone", 413: "payload_too_large",
    415: "unsupported_media_type", 429: "rate_limited", 500: "internal_error",
}
MESSAGES = {
    400: "the request is malformed", 401: "a valid API key is required (Authorization: Bearer KEY)",
    403: "this client may not do this", 404: "not found", 405: "method not allowed here",
    410: "gone", 413: "the request body is too large", 429: "too many requests; slow down",
    500: "internal error",
}


class ApiError(HTTPException):
    """An HTTP error with the API's code, message and offending field."""

    def __init__(self, status: int, message: str | None = None, *, field: str | None = None,
                 code: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message or MESSAGES.get(status, "error"))
        self.code = status
        self.api_code = code or CODES.get(status, "error")
        self.field = field
        self.extra_headers = dict(headers or {})


def error_response(status: int, message: str | None = None, *, field: str | None = None,
                   code: str | None = None, headers: Mapping[str, str] | None = None) -> Response:
    resp = jsonify({"error": {
        "status": status, "code": code or CODES.get(status, "error"),
        "message": message or MESSAGES.get(status, "error"), "field": field,
    }})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.blueprint == "api"


def _first_error(messages: Any, prefix: str = "") -> tuple[str | None, str]:
    """The first (field path, message) of marshmallow's nested error messages."""
    if isinstance(messages, dict):
        for key, sub in messages.items():
            name = None if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            field, msg = _first_error(sub, name or prefix)
            return (field or name or (prefix or None)), msg
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], prefix)
    return (prefix or None), str(messages)


def _http_error(exc: HTTPException) -> Response | HTTPException:
    status = exc.code or 500
    if isinstance(exc, ApiError):
        return error_response(status, exc.description, field=exc.field, code=exc.api_code,
                              headers=exc.extra_headers)
    if not wants_json():
        return Response(render_template("error.html", status=status, message=MESSAGES.get(status, exc.name)),
                        status=status)
    headers = {}
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    # Werkzeug's own descriptions never hold request data, but ours are shorter.
    return error_response(status, MESSAGES.get(status) or exc.description, headers=headers)


def _validation_error(exc: ValidationError) -> Response:
    field, message = _first_error(exc.messages)
    return error_response(400, message, field=field)


def _unhandled(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):  # pragma: no cover - routed to _http_error
        return _http_error(exc)  # type: ignore[return-value]
    # The traceback goes to the log (redacted); the client gets no detail.
    log.exception("unhandled error in %s", request.endpoint)
    if not wants_json():
        return Response(render_template("error.html", status=500, message=MESSAGES[500]), status=500)
    return error_response(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(Exception, _unhandled)
