"""HETU (Finnish personal identity code) normalisation.

Validation itself is python-stdnum's (``stdnum.fi.hetu``); this module adds what
an MDM needs on top of it:

* a *stable, precise error code* per failure. stdnum raises the same
  ``InvalidComponent`` for an impossible date, for the individual numbers
  000/001 and for a temporary number when temporaries are not allowed, and the
  same ``InvalidFormat`` for a bad century sign, a bad length and a check
  character outside the check alphabet, so the failing part is re-derived from
  the code's shape *after* stdnum has rejected it (the happy path costs one
  stdnum call);
* temporary codes (individual number 900-999) as their own quality level:
  they are real data but must never be an authoritative key;
* derived ``birth_date`` / ``sex`` details.

The century sign is part of the identity (``100190-999P`` and ``100190Y999P``
are two people): it is never normalised away.
"""
from __future__ import annotations

import re
from datetime import date

from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidLength,
    ValidationError,
)
from stdnum.fi import hetu as _stdnum_hetu

from mdm._typing import Normalised

__all__ = [
    "CENTURY_SIGNS",
    "CHECK_ALPHABET",
    "is_strong",
    "mask",
    "normalise",
]

#: Century sign -> first year of the century (all 13 signs valid since 2023).
CENTURY_SIGNS: dict[str, int] = {"+": 1800}
CENTURY_SIGNS.update(dict.fromkeys("-YXWVU", 1900))
CENTURY_SIGNS.update(dict.fromkeys("ABCDEF", 2000))

#: The 31 check characters, indexed by ``int(DDMMYYZZZ) % 31``.
CHECK_ALPHABET = "0123456789ABCDEFHJKLMNPRSTUVWXY"

# Compiled once: this runs for every record of the nightly load.
_WHITESPACE_RE = re.compile(r"\s+")
# Loose shape used only to *explain* a failure stdnum already reported:
# digits where digits belong, any single character for sign and check.
_SHAPE_RE = re.compile(r"^(\d{6})(.)(\d{3})(.)$")

_EMPTY = Normalised(value=None, quality="invalid", error="hetu.empty")


def _compact(raw: str) -> str:
    # stdnum's compact() upper-cases, maps Unicode dashes/spaces to ASCII and
    # strips the *ends* only; pasted values ("131052 -308T", "131052-\u00a0308T")
    # also carry inner whitespace, which can never be part of a HETU.
    return _WHITESPACE_RE.sub("", _stdnum_hetu.compact(raw))


def _explain(value: str, exc: ValidationError) -> str:
    """Turn a stdnum exception on an (already compacted) value into a code."""
    if isinstance(exc, InvalidChecksum):
        return "hetu.checksum"
    if isinstance(exc, InvalidLength):
        return "hetu.length"
    m = _SHAPE_RE.match(value)
    if isinstance(exc, InvalidComponent):
        # stdnum checks the date first, then the individual number (000/001 are
        # never issued; 900-999 only when temporaries are disallowed).
        if m is not None:
            individual = int(m.group(3))
            if individual < 2:
                return "hetu.individual"
            if individual >= 900 and _date_of(m.group(1), m.group(2)) is not None:
                # stdnum stopped before the check character: a temporary code
                # that is also mistyped is reported as the typo.
                try:
                    _stdnum_hetu.validate(value, allow_temporary=True)
                except InvalidChecksum:
                    return "hetu.checksum"
                except ValidationError:
                    pass
                return "hetu.temporary"
        return "hetu.date"
    # InvalidFormat (or anything else stdnum may add later): find which part.
    if len(value) != 11:
        return "hetu.length"
    if m is None:
        return "hetu.format"
    if m.group(2) not in CENTURY_SIGNS:
        return "hetu.century_sign"
    if m.group(4) not in CHECK_ALPHABET and m.group(4).isalnum():
        # A letter such as G/I/O/Q/Z can never be a check character: for the
        # data steward this is a wrong check character, not a wrong shape.
        return "hetu.checksum"
    return "hetu.format"


def _date_of(ddmmyy: str, sign: str) -> date | None:
    try:
        return date(
            CENTURY_SIGNS[sign] + int(ddmmyy[4:6]), int(ddmmyy[2:4]), int(ddmmyy[0:2])
        )
    except (KeyError, ValueError):
        return None


def normalise(
    raw: str | None,
    *,
    allow_temporary: bool = True,
    today: date | None = None,
    **_: object,
) -> Normalised:
    """Normalise one HETU.

    Returns the canonical form (upper case, no whitespace, century sign kept)
    with ``quality`` ``"valid"`` or, for individual numbers 900-999,
    ``"temporary"`` (``details["temporary"] is True``). ``details`` carries
    ``birth_date`` (ISO) and ``sex`` (``"male"`` odd / ``"female"`` even
    individual number).

    Error codes: ``hetu.empty``, ``hetu.length``, ``hetu.format``,
    ``hetu.century_sign``, ``hetu.date`` (no such calendar date),
    ``hetu.future`` (birth date after ``today``: not issued yet),
    ``hetu.individual`` (000/001), ``hetu.checksum``, and ``hetu.temporary``
    only when ``allow_temporary=False``.
    """
    if raw is None:
        return _EMPTY
    try:
        value = _compact(raw)
    except ValidationError:  # not a string at all
        return Normalised(value=str(raw), quality="invalid", error="hetu.format")
    if not value:
        return _EMPTY
    try:
        _stdnum_hetu.validate(value, allow_temporary=allow_temporary)
    except ValidationError as exc:
        return Normalised(value=value, quality="invalid", error=_explain(value, exc))

    # stdnum accepted it, so the shape is exact: slice instead of re-matching.
    birth = _date_of(value[0:6], value[6])
    assert birth is not None  # validated by stdnum
    if birth > (today or date.today()):
        # stdnum only checks that the date exists; a code born in the future
        # (e.g. a 1900s code keyed with an A sign) cannot have been issued.
        return Normalised(value=value, quality="invalid", error="hetu.future")
    individual = int(value[7:10])
    temporary = individual >= 900
    return Normalised(
        value=value,
        quality="temporary" if temporary else "valid",
        error=None,
        details={
            "birth_date": birth.isoformat(),
            "sex": "male" if individual % 2 else "female",
            "temporary": temporary,
        },
    )


def mask(hetu: str | Normalised | None) -> str:
    """Mask a HETU for display (``131052-308T`` -> ``131052-****``).

    The birth date part and the century sign stay visible, the individual
    number and check character never do (Data Protection Act 1050/2018).
    Values too short to have a birth date part are masked entirely.
    """
    if isinstance(hetu, Normalised):
        hetu = hetu.value
    if not hetu:
        return ""
    try:
        value = _compact(hetu)
    except ValidationError:
        return "****"
    if len(value) < 7:
        return "****"
    return value[:7] + "****"


def is_strong(n: Normalised) -> bool:
    """True if ``n`` may serve as an authoritative person key.

    That is a valid, non-temporary HETU (or Kela card HETU evidence).
    """
    return (
        n.error is None
        and n.value is not None
        and n.quality == "valid"
        and not n.details.get("temporary", False)
    )
