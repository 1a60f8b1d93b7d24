"""FHIR Patient parsing, fhir-ndjson, fhir-bundle and fhir-api (a real local HTTP server)."""
from __future__ import annotations

import copy
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from connectors import ConnectorError, ConnectorWarning, make_connector
from connectors.fhir import patient_records
from mdm._typing import AddressIn, IdentifierIn, NameIn, RejectedRow, RelationIn, SourceRecordIn

try:
    from test_connectors_http import RecordedServer, Reply, _no_proxy  # noqa: F401 - fixture
except ImportError:  # tests/ became a package
    from tests.test_connectors_http import RecordedServer, Reply, _no_proxy  # noqa: F401

SECURITY = "https://hl7.fi/fhir/finnish-base-profiles/CodeSystem/fi-base-security-label-cs"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

PATIENT = {
    "resourceType": "Patient",
    "id": "pat-1",
    "meta": {"lastUpdated": "2026-11-01T10:00:00+02:00",
             "security": [{"system": SECURITY, "code": "TURVAKIELTO"}]},
    "identifier": [
        {"system": "urn:oid:1.2.246.21", "value": "131052-308T"},
        {"system": "urn:oid:1.2.246.10.1234567.10.1", "value": "131052-901X"},
        {"system": "urn:oid:1.2.246.537.6.1", "value": "MRN-9", "use": "secondary"},
    ],
    "name": [
        {"use": "official", "family": "Korhonen", "given": ["Anna", "Maria"]},
        {"use": "maiden", "family": "Lindqvist", "given": ["Anna"]},
        {"use": "official", "family": "Vanha", "given": ["Anna"], "period": {"end": "2001-05-01"}},
    ],
    "telecom": [{"system": "phone", "value": "040 765 4321", "use": "mobile"},
                {"system": "email", "value": "anna@example.fi"}],
    "gender": "female",
    "birthDate": "1952-10-13",
    "address": [
        {"use": "home", "line": ["Aurakatu 3 B", "as. 12"], "postalCode": "20100", "city": "Turku"},
        {"line": ["Vanhatie 1"], "postalCode": "21200", "city": "Raisio", "period": {"end": "2019-12-31"}},
        {"use": "temp", "line": ["Mökkitie 9"], "postalCode": "21100", "city": "Naantali"},
    ],
    "contact": [
        {"relationship": [{"coding": [{"system": ROLE, "code": "GUARD"}]}],
         "name": {"family": "Korhonen", "given": ["Pekka"]},
         "telecom": [{"system": "phone", "value": "050 111 2222"}]},
        {"relationship": [{"coding": [{"system": ROLE, "code": "C"}]}], "name": {"family": "Emergency"}},
        {"relationship": [{"coding": [{"system": ROLE, "code": "MTH"}]}],
         "name": {"family": "Lindqvist", "given": ["Berit"]}},
    ],
    "link": [{"other": {"reference": "Patient/pat-old"}, "type": "replaces"}],
    "deceasedDateTime": "2026-10-30T04:00:00+02:00",
}


def patient(pid: str, updated: str = "2026-11-01T10:00:00+02:00", **extra) -> dict:
    res = {"resourceType": "Patient", "id": pid, "meta": {"lastUpdated": updated},
           "name": [{"family": "Nieminen", "given": ["Aino"]}], "birthDate": "1990-01-01", **extra}
    return res


def test_patient_parsing_covers_every_field():
    records = patient_records(copy.deepcopy(PATIENT), "f:1", today=date(2026, 11, 15))
    pat, guardian, mother = records
    assert pat.source_id == "pat-1" and pat.sex == "female" and pat.birth_date == "1952-10-13"
    assert pat.names == [NameIn("Anna Maria", "Korhonen"), NameIn("Anna", "Lindqvist", use="maiden"),
                         NameIn("Anna", "Vanha", use="old")]
    kinds = [(i.type, i.value) for i in pat.identifiers]
    assert kinds == [("hetu", "131052-308T"), ("temporary_id", "131052-901X"), ("other", "MRN-9"),
                     ("phone", "040 765 4321"), ("email", "anna@example.fi")]
    assert pat.identifiers[0].system == "urn:oid:1.2.246.21" and pat.identifiers[3].use == "mobile"
    assert pat.addresses == [AddressIn("Aurakatu 3 B as. 12", "20100", "Turku"),
                             AddressIn("Vanhatie 1", "21200", "Raisio", use="old"),
                             AddressIn("Mökkitie 9", "21100", "Naantali", use="temp")]
    assert pat.flags == {"turvakielto", "deceased"}
    assert pat.attributes["links"] == [{"type": "replaces", "other": "Patient/pat-old"}]
    assert pat.updated_at == datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
    assert pat.raw["id"] == "pat-1"
    assert guardian.source_id == "pat-1#contact-0" and mother.source_id == "pat-1#contact-2"
    assert guardian.names == [NameIn("Pekka", "Korhonen")]
    assert guardian.identifiers == [IdentifierIn("phone", "050 111 2222")]
    assert guardian.attributes == {"role": "guardian", "derived_from": "pat-1"}
    assert guardian.birth_date is None and guardian.addresses == []
    assert pat.relations == [RelationIn("guardian_of", "pat-1#contact-0", "pat-1", label="GUARD"),
                             RelationIn("guardian_of", "pat-1#contact-2", "pat-1", label="MTH")]


def write_ndjson(tmp_path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path = tmp_path / "Patient.ndjson"
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def read_all(tmp_path: Path, connector: str, path: Path, watermark: str | None = None, **options):
    conn = make_connector("apotti", {"connector": connector, "path": path.name, **options}, tmp_path)
    items = list(conn.read(watermark))
    return (conn, [i for i in items if isinstance(i, SourceRecordIn)],
            [i for i in items if isinstance(i, RejectedRow)])


def test_ndjson_loads_and_quarantines_bad_lines(tmp_path):
    lines = [json.dumps(PATIENT, ensure_ascii=False), "{not json", json.dumps({"resourceType": "Observation",
             "id": "o1"}), json.dumps({"resourceType": "Patient"}), "",
             json.dumps(patient("pat-2", name=[{"family": "Äijälä"}])),
             json.dumps(patient("pat-3", name="Aino"))]
    conn, records, rejected = read_all(tmp_path, "fhir-ndjson", write_ndjson(tmp_path, lines))
    assert [r.source_id for r in records] == ["pat-1", "pat-1#contact-0", "pat-1#contact-2", "pat-2"]
    assert records[3].names[0].family == "Äijälä" and records[3].row_ref == "Patient.ndjson:6"
    assert [(r.row_ref, r.reason.split(":")[0]) for r in rejected] == [
        ("Patient.ndjson:2", "invalid JSON"),
        ("Patient.ndjson:3", "not a Patient (resourceType 'Observation')"),
        ("Patient.ndjson:4", "Patient without id"),
        ("Patient.ndjson:7", "malformed Patient pat-3")]
    assert rejected[0].raw == "{not json"
    assert conn.full_export is True and conn.new_watermark == "2026-11-01T10:00:00+02:00"


def test_ndjson_duplicates_keep_last_line(tmp_path):
    lines = [json.dumps(patient("a", "2026-01-01T00:00:00Z")), json.dumps(patient("b")),
             json.dumps(patient("a", "2026-02-01T00:00:00Z", birthDate="1990-01-02"))]
    _, records, rejected = read_all(tmp_path, "fhir-ndjson", write_ndjson(tmp_path, lines))
    assert [(r.source_id, r.birth_date) for r in records] == [("b", "1990-01-01"), ("a", "1990-01-02")]
    assert [(r.row_ref, r.reason) for r in rejected] == [("Patient.ndjson:1", "duplicate source id a (kept row 3)")]


def test_ndjson_payloads_are_what_the_standard_json_parser_reads(tmp_path):
    # The fast parser must not change a payload (its hash says whether a record changed):
    # huge integers stay integers, NaN and escaped lone surrogates still load, floats are exact.
    lines = [json.dumps(patient("big", extension=[{"url": "x", "valueInteger": 123456789012345678901234567890}])),
             '{"resourceType": "Patient", "id": "nan", "extension": [{"url": "x", "valueDecimal": NaN}]}',
             json.dumps(patient("sur", extension=[{"url": "x", "valueString": "\ud800"}])),
             json.dumps(patient("flt", extension=[{"url": "x", "valueDecimal": 0.1 + 0.2}]))]
    _, records, rejected = read_all(tmp_path, "fhir-ndjson", write_ndjson(tmp_path, lines))
    assert not rejected
    by_id = {r.source_id: r.raw for r in records}
    expected = {json.loads(line)["id"]: json.loads(line) for line in lines}
    assert set(by_id) == set(expected)
    for key, raw in by_id.items():
        assert json.dumps(raw, sort_keys=True) == json.dumps(expected[key], sort_keys=True)
    assert type(by_id["big"]["extension"][0]["valueInteger"]) is int


def test_ndjson_invalid_identifiers_pass_through(tmp_path):
    res = patient("x", identifier=[{"system": "urn:oid:1.2.246.21", "value": "131052-308X"}])
    _, records, _ = read_all(tmp_path, "fhir-ndjson", write_ndjson(tmp_path, [json.dumps(res)]))
    assert records[0].identifiers == [IdentifierIn("hetu", "131052-308X", system="urn:oid:1.2.246.21")]


def test_ndjson_encoding_errors(tmp_path):
    path = write_ndjson(tmp_path, [json.dumps(patient("x", name=[{"family": "Mäki"}]), ensure_ascii=False)],
                        encoding="latin-1")
    with pytest.raises(ConnectorError, match=r"Patient.ndjson is not valid utf-8 at byte \d+ \(line 1\)"):
        read_all(tmp_path, "fhir-ndjson", path)
    with pytest.warns(ConnectorWarning, match="fallback_encoding"):
        _, records, _ = read_all(tmp_path, "fhir-ndjson", path, fallback_encoding="latin-1")
    assert records[0].names[0].family == "Mäki"
    path.write_text(json.dumps(patient("x", name=[{"family": "Mäki"}]), ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ConnectorError, match="mojibake"):
        read_all(tmp_path, "fhir-ndjson", path, encoding="latin-1")


def test_bundle_file(tmp_path):
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": PATIENT, "search": {"mode": "match"}},
        {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}},
        {"resource": {"resourceType": "Organization", "id": "o"}},
        {"resource": patient("pat-2", "2026-01-01T00:00:00Z")},
        {"resource": patient("pat-2", "2026-03-01T00:00:00Z")},
    ]}
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    conn, records, rejected = read_all(tmp_path, "fhir-bundle", path)
    assert [r.source_id for r in records] == ["pat-1", "pat-1#contact-0", "pat-1#contact-2", "pat-2"]
    assert [(r.row_ref, r.reason) for r in rejected] == [
        ("bundle.json:entry[2]", "not a Patient (resourceType 'Organization')"),
        ("bundle.json:entry[3]", "duplicate source id pat-2 (kept entry 4)")]
    assert conn.new_watermark == "2026-11-01T10:00:00+02:00"
    path.write_text('{"resourceType": "Patient"}')
    with pytest.raises(ConnectorError, match="not a FHIR Bundle"):
        read_all(tmp_path, "fhir-bundle", path)


# --------------------------------------------------------------------------- fhir-api
def page_bundle(resources: list[dict], next_url: str | None) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "self", "url": "x"}],
              "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}
    if next_url:
        bundle["link"].append({"relation": "next", "url": next_url})
    return bundle


@pytest.fixture
def fhir(monkeypatch):
    monkeypatch.setenv("FHIR_T_USER", "mdm")
    monkeypatch.setenv("FHIR_T_PASS", "terveys")
    with RecordedServer(basic=("mdm", "terveys")) as srv:
        yield srv


def api(url: str, tmp_path: Path, **options):
    opts = {"connector": "fhir-api", "url": url + "/fhir", "count": 2, "retries": 2, "timeout": 0.3,
            "backoff": 0.01, "username_env": "FHIR_T_USER", "password_env": "FHIR_T_PASS", **options}
    return make_connector("apotti-api", opts, tmp_path)


def test_api_follows_next_links(fhir, tmp_path):
    def route(seen):
        page = seen.query.get("page", ["1"])[0]
        if page == "1":  # an absolute next link, then a relative one
            return Reply(200, page_bundle([PATIENT, patient("p2")], f"{fhir.url}/fhir/Patient?page=2"))
        if page == "2":
            return Reply(200, page_bundle([patient("p3", "2026-11-05T12:00:00Z")], "Patient?page=3"))
        return Reply(200, page_bundle([patient("p4")], None))
    fhir.routes["/fhir/Patient"] = route
    conn = api(fhir.url, tmp_path)
    records = list(conn.read(None))
    assert [r.source_id for r in records if "#" not in r.source_id] == ["pat-1", "p2", "p3", "p4"]
    first = fhir.requests[0]
    assert first.query == {"_count": ["2"]} and first.headers["Accept"] == "application/fhir+json"
    assert len(fhir.requests) == 3
    assert conn.full_export is False and conn.new_watermark == "2026-11-05T12:00:00+00:00"


def test_api_watermark_and_retry_after_500(fhir, tmp_path):
    fhir.routes["/fhir/Patient"] = [Reply(500), Reply(200, page_bundle([patient("p9")], None))]
    conn = api(fhir.url, tmp_path)
    assert [r.source_id for r in conn.read("2026-11-01T00:00:00+00:00")] == ["p9"]
    assert fhir.requests[-1].query["_lastUpdated"] == ["gt2026-11-01T00:00:00+00:00"]
    assert len(fhir.requests) == 2


def test_api_slow_answer_then_success(fhir, tmp_path):
    fhir.routes["/fhir/Patient"] = [Reply(200, page_bundle([patient("late")], None), delay=0.8),
                                    Reply(200, page_bundle([patient("p1")], None))]
    assert [r.source_id for r in api(fhir.url, tmp_path).read(None)] == ["p1"]


def test_api_persistent_failure_and_auth(fhir, tmp_path, monkeypatch):
    fhir.routes["/fhir/Patient"] = [Reply(504)]
    with pytest.raises(ConnectorError, match=r"fhir-api.*failed after 3 attempts: HTTP 504"):
        list(api(fhir.url, tmp_path).read(None))
    monkeypatch.setenv("FHIR_T_PASS", "väärä")
    with pytest.raises(ConnectorError, match="HTTP 401"):
        list(api(fhir.url, tmp_path).read(None))


def test_api_bad_entries_are_quarantined_and_non_bundle_fails(fhir, tmp_path):
    fhir.routes["/fhir/Patient"] = [Reply(200, page_bundle([patient("p1"), {"resourceType": "Patient"}], None)),
                                    Reply(200, {"resourceType": "OperationOutcome"})]
    items = list(api(fhir.url, tmp_path).read(None))
    assert isinstance(items[1], RejectedRow) and items[1].reason == "Patient without id"
    with pytest.raises(ConnectorError, match="not a FHIR Bundle"):
        list(api(fhir.url, tmp_path).read(None))


def test_api_patient_repeated_on_next_page(fhir, tmp_path):
    def route(seen):
        if seen.query.get("page") != ["2"]:
            return Reply(200, page_bundle([PATIENT], "Patient?page=2"))
        return Reply(200, page_bundle([dict(PATIENT, meta={"lastUpdated": "2026-11-09T00:00:00Z"})], None))
    fhir.routes["/fhir/Patient"] = route
    conn = api(fhir.url, tmp_path)
    items = list(conn.read(None))
    assert [i.source_id for i in items if isinstance(i, SourceRecordIn)] == [
        "pat-1", "pat-1#contact-0", "pat-1#contact-2"]
    assert [i.reason for i in items if isinstance(i, RejectedRow)] == [
        "duplicate source id pat-1 (kept the copy on page 1)"]
    assert conn.new_watermark == "2026-11-01T10:00:00+02:00"
