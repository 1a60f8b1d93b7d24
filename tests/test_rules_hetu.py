"""Tests for rules.hetu: property-based (hypothesis) and explicit cases.

The check character is computed here independently of python-stdnum, from the
reference formula (finnish-identifiers.md), so the tests also pin stdnum.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mdm._typing import Normalised
from rules import hetu

ALPHABET = "0123456789ABCDEFHJKLMNPRSTUVWXY"
SIGNS = {"+": 1800, "-": 1900, "Y": 1900, "X": 1900, "W": 1900, "V": 1900, "U": 1900,
         "A": 2000, "B": 2000, "C": 2000, "D": 2000, "E": 2000, "F": 2000}
# Far enough ahead that every generated 1800-2099 date counts as "past".
FAR_FUTURE = date(2100, 1, 1)


def check_char(ddmmyy: str, individual: str) -> str:
    """Reference formula: DDMMYYZZZ as one integer, mod 31, into the alphabet."""
    return ALPHABET[int(ddmmyy + individual) % 31]


def make(d: date, sign: str, individual: int) -> str:
    ddmmyy = d.strftime("%d%m") + f"{d.year % 100:02d}"
    zzz = f"{individual:03d}"
    return f"{ddmmyy}{sign}{zzz}{check_char(ddmmyy, zzz)}"


@st.composite
def hetus(draw: st.DrawFn, individuals: st.SearchStrategy[int] = st.integers(2, 999)):
    sign = draw(st.sampled_from(sorted(SIGNS)))
    century = SIGNS[sign]
    d = draw(st.dates(date(century, 1, 1), date(century + 99, 12, 31)))
    individual = draw(individuals)
    return make(d, sign, individual), d, sign, individual


@st.composite
def messy(draw: st.DrawFn, code: str) -> str:
    """Random case per character and random whitespace around/inside."""
    ws = st.sampled_from(["", " ", "  ", "\t", "\u00a0", "\n"])
    out = draw(ws)
    for ch in code:
        out += ch.lower() if draw(st.booleans()) else ch
        out += draw(ws) if draw(st.integers(0, 4)) == 0 else ""
    return out + draw(ws)


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------
@settings(max_examples=400)
@given(data=st.data(), h=hetus())
def test_round_trip_messy_input(data: st.DataObject, h) -> None:
    code, d, sign, individual = h
    raw = data.draw(messy(code))
    n = hetu.normalise(raw, today=FAR_FUTURE)
    assert n.value == code
    assert n.error is None
    assert n.quality == ("temporary" if individual >= 900 else "valid")
    assert n.details["birth_date"] == d.isoformat()
    assert n.details["sex"] == ("male" if individual % 2 else "female")
    assert n.details["temporary"] is (individual >= 900)
    # normalising the normal form is the identity
    assert hetu.normalise(n.value, today=FAR_FUTURE) == n


@settings(max_examples=300)
@given(h=hetus(), data=st.data())
def test_changed_check_character_is_checksum_error(h, data: st.DataObject) -> None:
    code = h[0]
    other = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != code[-1]))
    n = hetu.normalise(code[:-1] + other, today=FAR_FUTURE)
    assert (n.quality, n.error, n.value) == ("invalid", "hetu.checksum", code[:-1] + other)


@given(h=hetus())
def test_century_sign_maps_to_century_and_is_kept(h) -> None:
    code, d, sign, _ = h
    n = hetu.normalise(code, today=FAR_FUTURE)
    assert n.value[6] == sign
    assert int(n.details["birth_date"][:4]) // 100 * 100 == SIGNS[sign]


@given(h=hetus(st.integers(900, 999)))
def test_temporary_numbers(h) -> None:
    code = h[0]
    n = hetu.normalise(code, today=FAR_FUTURE)
    assert n.quality == "temporary" and n.error is None and n.details["temporary"] is True
    assert not hetu.is_strong(n)
    strict = hetu.normalise(code, today=FAR_FUTURE, allow_temporary=False)
    assert (strict.quality, strict.error) == ("invalid", "hetu.temporary")


@given(h=hetus(st.integers(2, 899)))
def test_ordinary_numbers_are_strong(h) -> None:
    n = hetu.normalise(h[0], today=FAR_FUTURE)
    assert n.quality == "valid" and hetu.is_strong(n)


@given(d=st.dates(date(1900, 1, 1), date(1999, 12, 31)), individual=st.integers(2, 999),
       signs=st.lists(st.sampled_from("-YXWVU"), min_size=2, max_size=2, unique=True))
def test_same_digits_other_sign_is_other_person(d: date, individual: int, signs) -> None:
    a, b = (hetu.normalise(make(d, s, individual)) for s in signs)
    assert a.error is None and b.error is None
    assert a.value != b.value  # never normalised to one sign
    assert a.value[:6] + a.value[7:] == b.value[:6] + b.value[7:]  # check char not covering sign


@given(h=hetus())
def test_future_birth_date_rejected(h) -> None:
    code, d, _, _ = h
    today = d - timedelta(days=1)
    assume(today.year >= 1800)
    n = hetu.normalise(code, today=today)
    assert (n.quality, n.error, n.value) == ("invalid", "hetu.future", code)


@settings(max_examples=300)
@given(st.text(max_size=20))
def test_never_raises(raw: str) -> None:
    n = hetu.normalise(raw)
    assert isinstance(n, Normalised)
    assert (n.error is None) == (n.quality in ("valid", "temporary"))
    if n.error is not None:
        assert n.error.startswith("hetu.")


# --------------------------------------------------------------------------
# Explicit cases
# --------------------------------------------------------------------------
def test_reference_example_valid() -> None:
    n = hetu.normalise("131052-308T")
    assert n == Normalised(
        value="131052-308T", quality="valid",
        details={"birth_date": "1952-10-13", "sex": "female", "temporary": False},
    )
    assert n.ok and hetu.is_strong(n)


def test_lowercase_and_whitespace() -> None:
    assert hetu.normalise("  131052-308t\n").value == "131052-308T"
    assert hetu.normalise("131052 - 308 T").value == "131052-308T"
    assert hetu.normalise("010203y123" + check_char("010203", "123").lower()).value == (
        "010203Y123" + check_char("010203", "123")
    )


def test_unicode_dash_is_hyphen() -> None:
    # Spreadsheets turn "-" into an en dash; stdnum's clean() maps it back.
    assert hetu.normalise("131052\u2013308T").value == "131052-308T"


def test_bad_checksum() -> None:
    n = hetu.normalise("131052-308U")
    assert (n.value, n.quality, n.error, dict(n.details)) == (
        "131052-308U", "invalid", "hetu.checksum", {})
    assert not hetu.is_strong(n)


def test_check_char_outside_alphabet_is_checksum() -> None:
    # stdnum reports InvalidFormat for G/I/O/Q/Z; for a steward it is a wrong check char.
    assert hetu.normalise("131052-308G").error == "hetu.checksum"


def test_bad_date() -> None:
    zzz = "123"
    assert hetu.normalise("310290-" + zzz + check_char("310290", zzz)).error == "hetu.date"
    assert hetu.normalise("131352-308T").error == "hetu.date"


def test_leap_day_depends_on_century_sign() -> None:
    ok = hetu.normalise(make(date(2000, 2, 29), "A", 123))
    assert ok.error is None and ok.details["birth_date"] == "2000-02-29"
    # 29.02.1900: 1900 was not a leap year
    assert hetu.normalise("290200-123" + check_char("290200", "123")).error == "hetu.date"


def test_individual_000_001_never_issued() -> None:
    for zzz in ("000", "001"):
        assert hetu.normalise("131052-" + zzz + check_char("131052", zzz)).error == "hetu.individual"


def test_temporary_pair_from_reference() -> None:
    a = hetu.normalise("100190-999P")
    b = hetu.normalise("100190Y999P")
    assert a.quality == b.quality == "temporary"
    assert a.error is None and b.error is None
    assert a.value == "100190-999P" and b.value == "100190Y999P"
    assert a.value != b.value
    assert a.details["birth_date"] == b.details["birth_date"] == "1990-01-10"


def test_non_temporary_pair_is_two_valid_people() -> None:
    c = check_char("010203", "123")
    a = hetu.normalise(f"010203-123{c}")
    b = hetu.normalise(f"010203Y123{c}")
    assert a.quality == b.quality == "valid"
    assert hetu.is_strong(a) and hetu.is_strong(b)
    assert a.value != b.value
    assert a.details == b.details == {"birth_date": "1903-02-01", "sex": "male", "temporary": False}


@pytest.mark.parametrize("sign,year", sorted(SIGNS.items()))
def test_each_century_sign(sign: str, year: int) -> None:
    code = make(date(year + 5, 6, 7), sign, 246)
    n = hetu.normalise(code)
    assert n.error is None and n.value == code
    assert n.details["birth_date"] == f"{year + 5}-06-07"
    if sign.isalpha():
        assert hetu.normalise(code.lower()).value == code


@pytest.mark.parametrize("raw,code", [
    ("13105A-308T", "hetu.format"),
    ("131052-30XT", "hetu.format"),
    ("131052-308", "hetu.length"),
    ("131052-308TT", "hetu.length"),
    ("abc", "hetu.length"),
    ("131052Z308T", "hetu.century_sign"),
    ("131052/308T", "hetu.century_sign"),
    ("131052G308T", "hetu.century_sign"),
])
def test_bad_format(raw: str, code: str) -> None:
    n = hetu.normalise(raw)
    assert (n.quality, n.error) == ("invalid", code)
    assert n.value == raw.upper()


@pytest.mark.parametrize("raw", [None, "", "   ", "\t\n"])
def test_empty(raw) -> None:
    assert hetu.normalise(raw) == Normalised(value=None, quality="invalid", error="hetu.empty")


def test_future_with_real_today() -> None:
    # 2090 is in the future for decades to come
    n = hetu.normalise(make(date(2090, 1, 1), "A", 123))
    assert n.error == "hetu.future"


def test_mask() -> None:
    assert hetu.mask("131052-308T") == "131052-****"
    assert hetu.mask(" 131052-308t ") == "131052-****"
    assert hetu.mask(hetu.normalise("100190Y999P")) == "100190Y****"
    assert hetu.mask("1310") == "****"
    assert hetu.mask(None) == "" and hetu.mask("") == ""


def test_is_strong_rejects_invalid_and_empty() -> None:
    assert not hetu.is_strong(hetu.normalise(None))
    assert not hetu.is_strong(hetu.normalise("131052-308U"))
    assert not hetu.is_strong(hetu.normalise("100190-999P"))
