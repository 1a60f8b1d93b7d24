"""End-to-end tests for rules.standardise.standardise_record."""
from __future__ import annotations

import json
import time
from datetime import date, datetime, timezone

from mdm._typing import AddressIn, IdentifierIn, NameIn, SourceRecordIn
from rules import standardise_record

TODAY = date(2026, 11, 30)


def koha_like() -> SourceRecordIn:
    return SourceRecordIn(
        source_id="koha:1234",
        names=[NameIn(given="Anna-Liisa Maria", family="VIRTANEN-KORHONEN", calling="Maria"),
               NameIn(given=" ", family=None)],
        birth_date=None,
        sex=None,
        identifiers=[
            IdentifierIn(type="library_card", value=" n0012345 "),
            IdentifierIn(type="hetu", value="131052-308t "),
            IdentifierIn(type="phone", value="040 123 4567", use="mobile"),
            IdentifierIn(type="phone", value="+358 40 1234567"),  # same number again
            IdentifierIn(type="email", value=" Anna@Example.FI "),
            IdentifierIn(type="email", value=""),  # empty: dropped
            IdentifierIn(type="transit_card", value="1234-5678", status="lost",
                         valid_from=date(2020, 1, 1), valid_to=date(2024, 5, 1)),
        ],
        addresses=[AddressIn(street="Hämeenkatu 12 b 5", postal_code="20100", city="ÅBO"),
                   AddressIn()],
        flags={"turvakielto", "deceased"},
        attributes={"category": "HENKILO", "enrolled": date(2019, 5, 1), "tags": {"b", "a"}},
        updated_at=datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc),
    )


def test_end_to_end_shape() -> None:
    out = standardise_record(koha_like(), today=TODAY)
    json.dumps(out)  # JSON-serialisable as a whole
    assert out["kind"] == "person"
    assert len(out["names"]) == 1
    name = out["names"][0]
    assert name["use"] == "official" and name["family_parts"] == ["virtanen", "korhonen"]
    assert name["given_list"] == ["anna-liisa", "maria"] and name["calling_folded"] == "maria"

    # birth date and sex derived from the valid HETU
    assert out["birth_date"] == "1952-10-13" and out["birth_date_source"] == "hetu"
    assert out["birth_date_error"] is None
    assert out["sex"] == "female" and out["sex_source"] == "hetu"

    ids = out["identifiers"]
    assert [(i["type"], i["value"]) for i in ids] == [
        ("library_card", "N0012345"),
        ("hetu", "131052-308T"),
        ("phone", "+358401234567"),
        ("email", "anna@example.fi"),
        ("transit_card", "12345678"),
    ]
    h = ids[1]
    assert h == {
        "type": "hetu", "value": "131052-308T", "raw": "131052-308t ", "quality": "valid",
        "error": None, "status": "active", "valid_from": None, "valid_to": None,
        "system": None, "use": None,
        "details": {"birth_date": "1952-10-13", "sex": "female", "temporary": False},
    }
    assert ids[2]["use"] == "mobile" and ids[2]["details"]["mobile"] is True  # first kept
    assert ids[4]["status"] == "lost"
    assert (ids[4]["valid_from"], ids[4]["valid_to"]) == ("2020-01-01", "2024-05-01")

    assert len(out["addresses"]) == 1
    addr = out["addresses"][0]
    assert addr["use"] == "home" and addr["municipality"] == "853"
    assert addr["key"] == "hameenkatu 12 b 5|20100"

    assert out["flags"] == ["deceased", "turvakielto"]
    assert out["warnings"] == []
    assert out["attributes"] == {"category": "HENKILO", "enrolled": "2019-05-01", "tags": ["a", "b"]}
    assert out["updated_at"] == "2026-11-01T12:00:00+00:00"


def test_source_birth_date_and_sex_win_but_mismatch_is_warned() -> None:
    rec = SourceRecordIn(source_id="x", birth_date="14.10.1952", sex="male",
                         identifiers=[IdentifierIn(type="hetu", value="131052-308T")])
    out = standardise_record(rec, today=TODAY)
    assert out["birth_date"] == "1952-10-14" and out["birth_date_source"] == "source"
    assert out["sex"] == "male" and out["sex_source"] == "source"
    assert out["warnings"] == ["birth_date.hetu_mismatch", "sex.hetu_mismatch"]


def test_invalid_birth_date_filled_from_hetu() -> None:
    rec = SourceRecordIn(source_id="x", birth_date="31.02.1952",
                         identifiers=[IdentifierIn(type="hetu", value="131052-308T")])
    out = standardise_record(rec, today=TODAY)
    assert out["birth_date_error"] == "date.impossible"
    assert out["birth_date"] == "1952-10-13" and out["birth_date_source"] == "hetu"


def test_invalid_birth_date_without_hetu() -> None:
    out = standardise_record(SourceRecordIn(source_id="x", birth_date="1.1.1850"), today=TODAY)
    assert out["birth_date"] is None and out["birth_date_error"] == "date.too_old"
    assert out["birth_date_source"] is None and out["sex"] is None


def test_kela_card_is_hetu_evidence() -> None:
    rec = SourceRecordIn(source_id="x", identifiers=[IdentifierIn(type="kela_card", value="131052-308T")])
    out = standardise_record(rec, today=TODAY)
    assert out["identifiers"][0]["type"] == "kela_card"
    assert out["identifiers"][0]["details"]["evidence_for"] == "hetu"
    assert out["birth_date"] == "1952-10-13" and out["sex"] == "female"


def test_temporary_and_invalid_hetu_do_not_derive() -> None:
    rec = SourceRecordIn(source_id="x", identifiers=[
        IdentifierIn(type="hetu", value="100190-999P"),
        IdentifierIn(type="hetu", value="131052-308U"),
    ])
    out = standardise_record(rec, today=TODAY)
    assert out["birth_date"] is None and out["sex"] is None
    assert [(i["quality"], i["error"]) for i in out["identifiers"]] == [
        ("temporary", None), ("invalid", "hetu.checksum")]
    assert out["identifiers"][1]["value"] == "131052-308U"  # invalid value kept


def test_temporary_system_wins_over_hetu_type() -> None:
    rec = SourceRecordIn(source_id="x", identifiers=[
        IdentifierIn(type="hetu", value="131052-308T", system="urn:oid:1.2.246.10.1234.1"),
    ])
    out = standardise_record(rec, today=TODAY)
    assert out["identifiers"][0]["quality"] == "temporary"
    assert out["birth_date"] is None


def test_conflicting_hetus() -> None:
    rec = SourceRecordIn(source_id="x", identifiers=[
        IdentifierIn(type="hetu", value="131052-308T"),
        IdentifierIn(type="hetu", value="010203-123" + "0123456789ABCDEFHJKLMNPRSTUVWXY"[10203123 % 31]),
    ])
    out = standardise_record(rec, today=TODAY)
    assert out["warnings"] == ["hetu.conflict"]
    assert out["birth_date"] is None and out["sex"] is None


def test_same_hetu_as_hetu_and_kela_card_is_no_conflict() -> None:
    rec = SourceRecordIn(source_id="x", identifiers=[
        IdentifierIn(type="hetu", value="131052-308T"),
        IdentifierIn(type="kela_card", value="131052-308T"),
        IdentifierIn(type="hetu", value="131052-308t"),  # duplicate after normalising
    ])
    out = standardise_record(rec, today=TODAY)
    assert [i["type"] for i in out["identifiers"]] == ["hetu", "kela_card"]
    assert out["warnings"] == [] and out["birth_date"] == "1952-10-13"


def test_unknown_identifier_type_does_not_stop_the_run() -> None:
    rec = SourceRecordIn(source_id="x", identifiers=[IdentifierIn(type="passport", value=" AB123 ")])
    ident = standardise_record(rec, today=TODAY)["identifiers"][0]
    assert (ident["type"], ident["value"], ident["quality"], ident["error"]) == (
        "passport", "AB123", "invalid", "identifier.unknown_type")


def test_sex_spellings() -> None:
    for raw, sex in (("M", "male"), ("F", "female"), ("nainen", "female"),
                     ("unspecified", None), ("other", "other"), ("unknown", None)):
        assert standardise_record(SourceRecordIn(source_id="x", sex=raw))["sex"] == sex  # type: ignore[arg-type]


def test_organisation_and_empty_record() -> None:
    out = standardise_record(SourceRecordIn(
        source_id="o", kind="organisation",
        identifiers=[IdentifierIn(type="ytunnus", value="FI02048198")]))
    assert out["kind"] == "organisation" and out["identifiers"][0]["value"] == "0204819-8"
    empty = standardise_record(SourceRecordIn(source_id="e"))
    assert empty["names"] == [] and empty["identifiers"] == [] and empty["addresses"] == []
    assert empty["updated_at"] is None and empty["attributes"] == {}
    json.dumps(empty)


def test_speed_smoke() -> None:
    """Generous bound (~20x headroom on a laptop) so the nightly budget is not lost silently."""
    recs = []
    for i in range(2000):
        r = koha_like()
        r.identifiers[0] = IdentifierIn(type="library_card", value=f"N{i:07d}")
        r.identifiers[2] = IdentifierIn(type="phone", value=f"040 {i:07d}")
        recs.append(r)
    start = time.perf_counter()
    for r in recs:
        standardise_record(r)
    per_record = (time.perf_counter() - start) / len(recs)
    assert per_record < 0.002, f"{per_record * 1e6:.0f} µs per record"
