"""HTTP hardening: security headers, the no-HETU-in-URLs rule, log redaction.

A HETU must never be in a URL, a query string or a log line (Data Protection
Act 1050/2018; see finnish-identifiers.md). URLs end up in access logs,
proxies, browser history and Referer headers, so any request whose path or
query string holds a HETU-shaped token is refused with a generic 400 that does
not echo it, before routing, for every method and every part of the app.
"""
from __future__ import annotations

import logging
import re
from urllib.parse import unquote, unquote_plus

from flask import Flask, Response, request

from .errors import error_response

# DDMMYY, a century sign (all 13; a space too, because "+" in a query string
# decodes to a space), the individual number and the check character, as in
# the normal form, in any case. The date part must be plausible and no digit
# may precede it. Golden ids are letters only (mdm/services/golden_ids.py), so
# no id can ever look like a HETU and be refused.
HETU_IN_URL = re.compile(
    r"(?<!\d)(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])\d\d[-+ YXWVUABCDEF]\d{3}[0-9A-Y]",
    re.IGNORECASE,
)
# Redaction of log lines is broader (no date or boundary checks; the sign may
# be missing, as in compacted values): a false positive only blanks a log token.
HETU_IN_TEXT = re.compile(r"\d{6}\s*[-+YXWVUABCDEF]?\s*\d{3}[0-9A-Y]", re.IGNORECASE)
REDACTED = "[redacted]"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def url_holds_hetu(path: str, query: str) -> bool:
    """True if the (raw or percent-decoded, up to three times) URL holds a HETU-shaped token."""
    for text in (path, query):
        seen: set[str] = set()
        while text not in seen and len(seen) < 4:
            seen.add(text)
            if HETU_IN_URL.search(text):
                return True
            text = unquote_plus(unquote(text))
    return False


def redact(text: str) -> str:
    return HETU_IN_TEXT.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Blank HETU-shaped tokens in a log record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format is not ours to fix here
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class SqlRowFilter(RedactingFilter):
    """SQLAlchemy at DEBUG logs every result row: personal data. Drop those lines, redact the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Row "):
            return False
        return super().filter(record)


def install_redaction(logger: logging.Logger, cls: type[RedactingFilter] = RedactingFilter) -> None:
    """Add a redacting filter to ``logger`` once (create_app may run many times)."""
    if not any(isinstance(f, cls) for f in logger.filters):
        logger.addFilter(cls())


def _refuse_hetu_urls() -> Response | None:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    if url_holds_hetu(request.path + " " + raw, request.query_string.decode("latin-1")):
        return error_response(
            400, "personal identity codes are not accepted in URLs; send them in a POST body"
        )
    return None


def _headers(response: Response) -> Response:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("X-Frame-Options", "DENY")
    if request.endpoint != "static":
        # Answers hold personal data: no browser or proxy may keep them.
        h["Cache-Control"] = "no-store"
    if request.is_secure:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    # Registered first, so it runs before authentication, routing errors and views.
    app.before_request_funcs.setdefault(None, []).insert(0, _refuse_hetu_urls)
    app.after_request(_headers)
    # Filters on a logger apply to the records it creates (not to its children's),
    # so each logger that may see request data gets one. SQL parameters are
    # hidden at the engine (db.py); the engine logger's rows are dropped here.
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", app.logger.name):
        install_redaction(logging.getLogger(name))
    install_redaction(logging.getLogger("sqlalchemy.engine.Engine"), SqlRowFilter)
