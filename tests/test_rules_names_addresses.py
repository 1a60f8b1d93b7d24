"""Tests for rules.names (fold, standardise_name) and rules.addresses."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import fold
from rules.addresses import municipality_code, standardise_address
from rules.names import standardise_name


# --------------------------------------------------------------------------
# fold
# --------------------------------------------------------------------------
@pytest.mark.parametrize("raw,folded", [
    ("Mäkinen", "makinen"), ("MAKINEN", "makinen"), ("MÄKINEN", "makinen"),
    ("Öhman", "ohman"), ("Åström", "astrom"), ("José", "jose"), ("Müller", "muller"),
    ("Strauß", "strauss"), ("Øster", "oster"), ("O'Brien", "obrien"),
    ("  Anna   Maria ", "anna maria"), ("Anna - Liisa", "anna-liisa"),
    ("Anna\u2013Liisa", "anna-liisa"), ("S:t Karins", "st karins"), ("", ""), (None, ""),
])
def test_fold(raw, folded: str) -> None:
    assert fold(raw) == folded


def test_fold_decomposed_input() -> None:
    # NFD input (macOS, some web forms) folds like precomposed
    assert fold("Ma\u0308kinen") == fold("Mäkinen") == "makinen"


@given(st.text(max_size=30))
def test_fold_idempotent_and_clean(text: str) -> None:
    f = fold(text)
    assert fold(f) == f
    assert f == f.strip(" -") and "  " not in f


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------
def test_name_diacritics_and_upper_case_meet() -> None:
    a = standardise_name("Äijä Öljy", "Mäkelä")
    b = standardise_name("AIJA OLJY", "MAKELA")
    for k in ("given_folded", "given_list", "family_folded", "family_parts"):
        assert a[k] == b[k]
    assert a["family"] == "Mäkelä" and b["family"] == "MAKELA"  # originals kept


def test_name_shape() -> None:
    n = standardise_name("  Anna-Liisa   Maria ", " Virtanen ", None, use="maiden")
    assert n == {
        "use": "maiden",
        "given": "Anna-Liisa Maria",
        "family": "Virtanen",
        "calling": None,
        "given_folded": "anna-liisa maria",
        "given_list": ["anna-liisa", "maria"],
        "calling_folded": None,
        "family_folded": "virtanen",
        "family_parts": ["virtanen"],
    }


def test_double_given_name_is_one_name() -> None:
    assert standardise_name("Anna-Liisa", "X")["given_list"] == ["anna-liisa"]
    assert standardise_name("ANNA - LIISA", "X")["given_list"] == ["anna-liisa"]


def test_second_given_name_as_calling_name() -> None:
    n = standardise_name("Johanna Maria Kristiina", "Virtanen", calling="Maria")
    assert n["calling_folded"] == "maria"
    assert n["calling_folded"] in n["given_list"]
    assert n["given_list"].index(n["calling_folded"]) == 1
    # a source that only has the calling name in "given" still overlaps
    only = standardise_name("Maria", "Virtanen")
    assert set(only["given_list"]) <= set(n["given_list"])


@pytest.mark.parametrize("family,parts", [
    ("Virtanen-Korhonen", ["virtanen", "korhonen"]),
    ("VIRTANEN-KORHONEN", ["virtanen", "korhonen"]),
    ("Virtanen Korhonen", ["virtanen", "korhonen"]),
    ("Virtanen – Korhonen", ["virtanen", "korhonen"]),
    ("von Wright", ["von", "wright"]),
    ("Virtanen", ["virtanen"]),
])
def test_double_barrelled_surnames(family: str, parts: list[str]) -> None:
    assert standardise_name("Anna", family)["family_parts"] == parts


def test_name_blanks() -> None:
    n = standardise_name(None, "  ", " ")
    assert n["given"] is None and n["family"] is None and n["calling"] is None
    assert n["given_list"] == [] and n["family_parts"] == []
    assert n["given_folded"] is None and n["family_folded"] is None


# --------------------------------------------------------------------------
# addresses
# --------------------------------------------------------------------------
@pytest.mark.parametrize("street,name,number,stair,apt", [
    ("Hämeenkatu 12 B 5", "Hämeenkatu", "12", "B", "5"),
    ("Hämeenkatu 12 b 5", "Hämeenkatu", "12", "B", "5"),
    ("Hämeenkatu 12B5", "Hämeenkatu", "12", "B", "5"),
    ("Puistokatu 3 as 4", "Puistokatu", "3", None, "4"),
    ("Aurakatu 8 A", "Aurakatu", "8", "A", None),
    ("Linnankatu 10-12 C 34", "Linnankatu", "10-12", "C", "34"),
    ("Linnankatu 10 - 12 C 34", "Linnankatu", "10-12", "C", "34"),
    ("Kaskenkatu 5 as. 12", "Kaskenkatu", "5", None, "12"),
    ("Koulukatu 3 A as 2", "Koulukatu", "3", "A", "2"),
    ("Rautatienkatu 5 C 21 b", "Rautatienkatu", "5", "C", "21b"),
    ("Itäinen Pitkäkatu 4", "Itäinen Pitkäkatu", "4", None, None),
    ("Tavastgatan 12 B bost. 5", "Tavastgatan", "12", "B", "5"),
    ("1. linja 5", "1. linja", "5", None, None),
])
def test_street_forms(street: str, name: str, number: str, stair, apt) -> None:
    a = standardise_address(street, "20100", "Turku")
    assert a["parsed"] is True and a["raw"] == street
    assert (a["street_name"], a["house_number"], a["staircase"], a["apartment"]) == (
        name, number, stair, apt)
    assert a["po_box"] is None


def test_street_variants_share_key() -> None:
    keys = {standardise_address(s, "20100", "Turku")["key"]
            for s in ("Hämeenkatu 12 B 5", "Hämeenkatu 12 b 5", "HAMEENKATU 12B 5", "hämeenkatu 12 B5")}
    assert keys == {"hameenkatu 12 b 5|20100"}
    assert standardise_address("Puistokatu 3 as 4", "20100", "Turku")["key"] == "puistokatu 3 4|20100"


def test_abbreviated_street_type() -> None:
    assert standardise_address("Hämeenk. 12", "20100", None)["street_folded"] == "hameenkatu"


def test_po_box() -> None:
    a = standardise_address("PL 123", "20101", "Turku")
    assert a["po_box"] == "123" and a["street_name"] is None and a["parsed"] is True
    assert a["key"] == "pl 123|20101"
    assert standardise_address("P.O. Box 123", "20101", "Turku")["key"] == "pl 123|20101"


def test_unparsed_line_kept() -> None:
    a = standardise_address("Mäkelän tila", "21100", "Naantali")
    assert a["parsed"] is False and a["street_name"] == "Mäkelän tila"
    assert a["key"] == "makelan tila|21100"


def test_postal_codes() -> None:
    a = standardise_address("Mannerheimintie 1", " 00100 ", "Helsinki")
    assert a["postal_code"] == "00100" and a["postal_code_error"] is None
    assert standardise_address("x 1", "FI-20100", "Turku")["postal_code"] == "20100"
    bad = standardise_address("Mannerheimintie 1", "100", "Helsinki")
    assert bad["postal_code"] == "100" and bad["postal_code_error"] == "postal_code.format"
    assert standardise_address("x 1", "2010A", None)["postal_code_error"] == "postal_code.format"
    # other countries are not held to the Finnish rule
    se = standardise_address("Storgatan 1", "123 45", "Stockholm", country="SE")
    assert se["postal_code"] == "12345" and se["postal_code_error"] is None
    assert standardise_address("x 1", None, "Turku")["postal_code"] is None


@pytest.mark.parametrize("city,code", [
    ("Turku", "853"), ("TURKU", "853"), ("Åbo", "853"), ("ABO", "853"),
    ("Kaarina", "202"), ("S:t Karins", "202"), ("Raisio", "680"), ("Reso", "680"),
    ("Naantali", "529"), ("Nådendal", "529"), ("Lieto", "423"), ("Rusko", "704"),
    ("Paimio", "577"), ("Helsinki", "091"), ("Espoo", "049"), ("Tampere", "837"),
    ("Vantaa", "092"), (" helsingfors ", "091"), ("Atlantis", None), (None, None),
])
def test_municipality(city, code) -> None:
    assert standardise_address(None, None, city)["municipality"] == code
    assert municipality_code(city) == code


def test_address_shape_and_folding() -> None:
    a = standardise_address("  Hämeenkatu   12 B 5 ", "20100", " ÅBO ", use="old")
    assert a["use"] == "old" and a["raw"] == "Hämeenkatu 12 B 5"
    assert a["street_folded"] == "hameenkatu"
    assert a["city"] == "ÅBO" and a["city_folded"] == "abo" and a["municipality"] == "853"
    assert a["key"] == "hameenkatu 12 b 5|20100"
    assert standardise_address(None, "20100", "Turku")["key"] is None


@given(st.text(max_size=40), st.text(max_size=8), st.text(max_size=15))
def test_address_never_raises(street: str, pc: str, city: str) -> None:
    a = standardise_address(street, pc, city)
    assert isinstance(a["key"], (str, type(None)))
