"""Birth date parsing.

Sources write birth dates as ISO (Koha, FHIR, OneRoster: ``1990-01-10``, Koha
REST sometimes with a time part), compact ``YYYYMMDD`` (registry exports) or the
Finnish ``D.M.YYYY`` (hand-made CSVs, Föli). Two-digit years are refused
(``date.format``) rather than guessed: a wrong century makes a wrong person.
"""
from __future__ import annotations

import re
from datetime import date, datetime

from mdm._typing import Normalised

__all__ = ["MIN_BIRTH_DATE", "parse_birth_date"]

#: Earliest plausible birth date; anything before is a data-entry error
#: (``0190-01-10``, ``1.1.1000`` placeholders).
MIN_BIRTH_DATE = date(1880, 1, 1)

_EMPTY = Normalised(value=None, quality="invalid", error="date.empty")

# Compiled once. Each pattern captures (year, month, day).
# ISO, optionally followed by a time part ("1990-01-10T00:00:00", "1990-01-10 00:00").
_ISO_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# Finnish D.M.YYYY; a trailing dot and spaces after the dots are tolerated.
_FI_RE = re.compile(r"^(\d{1,2})\.\s*(\d{1,2})\.\s*(\d{4})\.?$")
# FHIR allows partial dates: "1990" or "1990-01".
_PARTIAL_RE = re.compile(r"^\d{4}(?:-\d{1,2})?$")


def _invalid(value: str, code: str) -> Normalised:
    return Normalised(value=value, quality="invalid", error=code)


def parse_birth_date(
    raw: str | date | None, *, today: date | None = None, **_: object
) -> Normalised:
    """Parse a birth date into an ISO string (``Normalised.value``).

    Error codes: ``date.empty``; ``date.format`` (no accepted form);
    ``date.partial`` (year or year-month only, FHIR style); ``date.impossible``
    (no such calendar date, e.g. ``31.02.1990``); ``date.future`` (after
    ``today``); ``date.too_old`` (before 1880-01-01). Invalid values keep the
    stripped input.
    """
    if raw is None:
        return _EMPTY
    if isinstance(raw, datetime):
        parsed: date | None = raw.date()
        text = parsed.isoformat()
    elif isinstance(raw, date):
        parsed = raw
        text = raw.isoformat()
    else:
        text = str(raw).strip()
        if not text:
            return _EMPTY
        m = _ISO_RE.match(text) or _COMPACT_RE.match(text)
        if m is not None:
            y, mo, d = m.groups()
        else:
            m = _FI_RE.match(text)
            if m is None:
                code = "date.partial" if _PARTIAL_RE.match(text) else "date.format"
                return _invalid(text, code)
            d, mo, y = m.groups()
        try:
            parsed = date(int(y), int(mo), int(d))
        except ValueError:
            return _invalid(text, "date.impossible")
    if parsed > (today or date.today()):
        return _invalid(text, "date.future")
    if parsed < MIN_BIRTH_DATE:
        return _invalid(text, "date.too_old")
    return Normalised(value=parsed.isoformat())
