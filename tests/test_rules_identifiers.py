"""Tests for the non-HETU identifier normalisers, the registry and birth dates."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mdm._typing import IDENTIFIER_TYPES, Normalised
from rules import association_id, email, kela_card, library_card, oneroster_id, phone
from rules import student_id, transit_card, ytunnus
from rules.dates import parse_birth_date
from rules.identifiers import NORMALISERS, normalise_identifier


# --------------------------------------------------------------------------
# phone
# --------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [
    "040 123 4567", "+358 40 1234567", "0401234567", "040-1234567", "(040) 123 4567",
    "00358401234567", "+358 (0)40 123 4567",
])
def test_phone_mobile_forms(raw: str) -> None:
    n = phone.normalise(raw)
    assert n.value == "+358401234567" and n.quality == "valid" and n.error is None
    assert n.details["mobile"] is True and n.details["region"] == "FI"


def test_phone_landline() -> None:
    n = phone.normalise("09 1234 567")
    assert n.value == "+35891234567"
    assert n.details["mobile"] is False and n.details["number_type"] == "fixed_line"


def test_phone_foreign() -> None:
    n = phone.normalise("+46 70 123 45 67")
    assert n.value == "+46701234567" and n.details["region"] == "SE"


@pytest.mark.parametrize("raw,code,value", [
    ("garbage", "phone.format", "garbage"),
    ("ei puhelinta", "phone.format", "eipuhelinta"),
    ("123", "phone.not_possible", "123"),
    ("040 123 456 789 012", "phone.not_possible", "040123456789012"),
    ("+358 19 9999999", "phone.invalid", "+358199999999"),
])
def test_phone_errors(raw: str, code: str, value: str) -> None:
    assert phone.normalise(raw) == Normalised(value=value, quality="invalid", error=code)


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_phone_empty(raw) -> None:
    assert phone.normalise(raw).error == "phone.empty"


def test_phone_cache_does_not_share_details() -> None:
    a = phone.normalise("0401234567")
    b = phone.normalise("0401234567")
    assert a == b and a.details is not b.details


# --------------------------------------------------------------------------
# email
# --------------------------------------------------------------------------
@pytest.mark.parametrize("raw,value", [
    (" Matti.Virtanen@Example.FI ", "matti.virtanen@example.fi"),
    ("mailto:A@B.fi", "a@b.fi"),
    ("<anna@turku.fi>", "anna@turku.fi"),
    ("a.b+c@sub.example.com", "a.b+c@sub.example.com"),
])
def test_email_valid(raw: str, value: str) -> None:
    n = email.normalise(raw)
    assert (n.value, n.quality, n.error) == (value, "valid", None)
    assert n.details["domain"] == value.rpartition("@")[2]


@pytest.mark.parametrize("raw", [
    "a@b", "a b@c.fi", "a@@b.fi", "a@b@c.fi", "-", "matti.virtanen", "@turku.fi",
    "a@.fi", "a@b..fi", ".a@b.fi", "a.@b.fi", "a@b.fi.",
])
def test_email_format(raw: str) -> None:
    n = email.normalise(raw)
    assert (n.quality, n.error) == ("invalid", "email.format")
    assert n.value == raw.strip().lower()


@pytest.mark.parametrize("raw", [None, "", " "])
def test_email_empty(raw) -> None:
    assert email.normalise(raw).error == "email.empty"


# --------------------------------------------------------------------------
# Y-tunnus, association id
# --------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["0204819-8", "FI02048198", "fi 0204819-8", " 02048198 "])
def test_ytunnus_valid(raw: str) -> None:
    assert ytunnus.normalise(raw) == Normalised(value="0204819-8")


@pytest.mark.parametrize("raw,code,value", [
    ("0204819-9", "ytunnus.checksum", "02048199"),
    ("204819-8", "ytunnus.length", "2048198"),
    ("12345", "ytunnus.length", "12345"),
    ("02048l9-8", "ytunnus.format", "02048L98"),
])
def test_ytunnus_errors(raw: str, code: str, value: str) -> None:
    assert ytunnus.normalise(raw) == Normalised(value=value, quality="invalid", error=code)


def test_ytunnus_empty() -> None:
    assert ytunnus.normalise(" ").error == "ytunnus.empty"
    assert ytunnus.normalise(None).error == "ytunnus.empty"


@pytest.mark.parametrize("raw,value,formatted", [
    ("123.123", "123123", "123.123"), ("1.234", "1234", "1.234"), ("123", "123", "123"),
    ("1", "1", "1"),
])
def test_association_id_valid(raw: str, value: str, formatted: str) -> None:
    n = association_id.normalise(raw)
    assert (n.value, n.error, n.details["formatted"]) == (value, None, formatted)


@pytest.mark.parametrize("raw,code", [
    ("12df", "association_id.format"),
    ("123123123", "association_id.length"),
    ("3", "association_id.unregistered"),
    ("", "association_id.empty"),
])
def test_association_id_errors(raw: str, code: str) -> None:
    n = association_id.normalise(raw)
    assert n.error == code and n.quality == "invalid"


# --------------------------------------------------------------------------
# opaque ids
# --------------------------------------------------------------------------
def test_transit_card() -> None:
    assert transit_card.normalise(" 1234 5678-90ab ").value == "1234567890AB"
    assert transit_card.normalise("12\u00a034").value == "1234"
    assert transit_card.normalise("12/34").error == "transit_card.format"
    assert transit_card.normalise("12/34").value == "12/34"
    assert transit_card.normalise("1234ä").error == "transit_card.format"
    assert transit_card.normalise(" - ").error == "transit_card.empty"
    assert transit_card.normalise(None).error == "transit_card.empty"


def test_library_card() -> None:
    assert library_card.normalise(" n12345x ").value == "N12345X"
    assert library_card.normalise("").error == "library_card.empty"
    assert library_card.normalise("12\x0034").error == "library_card.format"


def test_oneroster_and_student_id_keep_case() -> None:
    assert oneroster_id.normalise(" Stu-1234abc ").value == "Stu-1234abc"
    assert oneroster_id.normalise("a\tb").error == "oneroster_id.format"
    assert oneroster_id.normalise("  ").error == "oneroster_id.empty"
    assert student_id.normalise(" Ab12 ").value == "Ab12"
    assert student_id.normalise(None).error == "student_id.empty"


# --------------------------------------------------------------------------
# Kela card, temporary id, registry
# --------------------------------------------------------------------------
def test_kela_card_is_hetu_evidence() -> None:
    n = kela_card.normalise("131052-308t")
    assert n.value == "131052-308T" and n.quality == "valid"
    assert n.details["evidence_for"] == "hetu" and n.details["birth_date"] == "1952-10-13"
    bad = kela_card.normalise("131052-308U")
    assert bad.error == "hetu.checksum" and bad.details == {"evidence_for": "hetu"}
    assert kela_card.normalise("").error == "kela_card.empty"


def test_temporary_id_always_temporary() -> None:
    n = normalise_identifier("temporary_id", "100190-999p")
    assert (n.value, n.quality, n.error) == ("100190-999P", "temporary", None)
    # an ordinary-range number under a temporary system is still temporary
    n = normalise_identifier("temporary_id", "131052-308T")
    assert n.quality == "temporary" and n.details["temporary"] is True
    assert normalise_identifier("temporary_id", "131052-308U").error == "hetu.checksum"
    assert normalise_identifier("temporary_id", None).error == "temporary_id.empty"


def test_registry_covers_all_types() -> None:
    assert set(NORMALISERS) == set(IDENTIFIER_TYPES)
    for t in IDENTIFIER_TYPES:
        n = normalise_identifier(t, None)
        assert n.value is None and n.error == f"{t}.empty"


def test_registry_dispatch_and_kwargs() -> None:
    assert normalise_identifier("phone", "040 123 4567").value == "+358401234567"
    assert normalise_identifier("hetu", "100190-999P", allow_temporary=False).error == "hetu.temporary"
    assert normalise_identifier("other", " X-1 ").value == "X-1"


def test_unknown_type_raises() -> None:
    with pytest.raises(ValueError, match="unknown identifier type 'passport'"):
        normalise_identifier("passport", "X")


@given(t=st.sampled_from(IDENTIFIER_TYPES), raw=st.text(max_size=30))
def test_no_normaliser_raises(t: str, raw: str) -> None:
    n = normalise_identifier(t, raw)
    assert (n.error is None) == (n.quality != "invalid")


# --------------------------------------------------------------------------
# birth dates
# --------------------------------------------------------------------------
TODAY = date(2026, 11, 30)


@pytest.mark.parametrize("raw", [
    "1990-01-10", "19900110", "10.1.1990", "10.01.1990", "10.1.1990.", "10. 1. 1990",
    " 1990-01-10 ", "1990-01-10T00:00:00", "1990-1-10", date(1990, 1, 10),
])
def test_birth_date_forms(raw) -> None:
    assert parse_birth_date(raw, today=TODAY) == Normalised(value="1990-01-10")


@pytest.mark.parametrize("raw,code", [
    ("10/01/1990", "date.format"),
    ("10.1.90", "date.format"),
    ("tammikuu 1990", "date.format"),
    ("1990", "date.partial"),
    ("1990-01", "date.partial"),
    ("31.02.1990", "date.impossible"),
    ("1990-13-01", "date.impossible"),
    ("19900230", "date.impossible"),
    ("1.12.2026", "date.future"),
    ("1.1.1879", "date.too_old"),
    ("0190-01-10", "date.too_old"),
])
def test_birth_date_errors(raw: str, code: str) -> None:
    n = parse_birth_date(raw, today=TODAY)
    assert (n.value, n.quality, n.error) == (raw, "invalid", code)


def test_birth_date_bounds() -> None:
    assert parse_birth_date("1880-01-01", today=TODAY).ok
    assert parse_birth_date("30.11.2026", today=TODAY).ok
    assert parse_birth_date(None).error == parse_birth_date("  ").error == "date.empty"
    assert parse_birth_date("2999-01-01").error == "date.future"  # real today
