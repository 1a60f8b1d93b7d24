"""Phone number normalisation to E.164 (``040 123 4567`` -> ``+358401234567``).

Parsing and validation are the ``phonenumbers`` library's (Google libphonenumber
metadata); the default region is Finland because every source is a Finnish city
system and most numbers are written nationally (``040 ...``, ``09 ...``).

A phone is evidence, never proof: families share numbers (a child's library or
transit record often carries a parent's mobile).
"""
from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from mdm._typing import Normalised

__all__ = ["DEFAULT_REGION", "normalise"]

DEFAULT_REGION = "FI"

_EMPTY = Normalised(value=None, quality="invalid", error="phone.empty")
# Kept form of an invalid number: no whitespace, nothing else touched.
_WHITESPACE_RE = re.compile(r"\s+")

# Types for which an SMS can be expected to arrive. FIXED_LINE_OR_MOBILE is what
# libphonenumber says where the numbering plan cannot tell (e.g. US/CA).
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_TYPE_NAMES: dict[int, str] = {
    v: k.lower() for k, v in vars(PhoneNumberType).items() if k.isupper() and isinstance(v, int)
}


@lru_cache(maxsize=1 << 17)
def _parse(raw: str, region: str) -> tuple[str, str | None, str | None, int | None]:
    """(value, error, region_code, number_type) for one stripped input.

    Cached: phonenumbers.parse costs tens of microseconds and the same numbers
    recur across sources (one household's number on several records). A tuple
    is cached, not a Normalised, so no caller can mutate a shared ``details``.
    """
    try:
        num = phonenumbers.parse(raw, region)
    except NumberParseException:
        return _WHITESPACE_RE.sub("", raw), "phone.format", None, None
    if not phonenumbers.is_possible_number(num):
        # wrong length for the country: a truncated or concatenated number
        return _WHITESPACE_RE.sub("", raw), "phone.not_possible", None, None
    if not phonenumbers.is_valid_number(num):
        # right length but an unallocated range, e.g. a typo in the prefix
        return _WHITESPACE_RE.sub("", raw), "phone.invalid", None, None
    e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return e164, None, phonenumbers.region_code_for_number(num), phonenumbers.number_type(num)


def normalise(raw: str | None, *, region: str = DEFAULT_REGION, **_: object) -> Normalised:
    """Normalise a phone number to E.164.

    ``details``: ``mobile`` (bool), ``number_type`` (libphonenumber type name,
    e.g. ``"mobile"``, ``"fixed_line"``) and ``region`` (e.g. ``"FI"``).

    Error codes: ``phone.empty``; ``phone.format`` (not a phone number at all);
    ``phone.not_possible`` (impossible length); ``phone.invalid`` (possible
    length, but not an allocated number).
    """
    if raw is None:
        return _EMPTY
    text = str(raw).strip()
    if not text:
        return _EMPTY
    value, error, region_code, ntype = _parse(text, region)
    if error is not None:
        return Normalised(value=value, quality="invalid", error=error)
    return Normalised(
        value=value,
        details={
            "mobile": ntype in _MOBILE_TYPES,
            "number_type": _TYPE_NAMES.get(ntype, "unknown"),  # type: ignore[arg-type]
            "region": region_code,
        },
    )
