"""koha-csv (patron CSV files written here) and koha-api (a real local HTTP server)."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from connectors import CONNECTORS, ConnectorError, ConnectorWarning, make_connector
from connectors.koha_csv import parse_patron_attributes
from mdm._typing import IdentifierIn, RejectedRow, RelationIn, SourceRecordIn

try:
    from test_connectors_http import RecordedServer, Reply, _no_proxy  # noqa: F401 - fixture
except ImportError:  # tests/ became a package
    from tests.test_connectors_http import RecordedServer, Reply, _no_proxy  # noqa: F401

HEADER = ("borrowernumber,cardnumber,surname,firstname,dateofbirth,sex,email,phone,smsalertnumber,"
          "address,zipcode,city,branchcode,categorycode,dateenrolled,updated_on,patron_attributes,"
          "guarantor_id,guarantor_relationship")
PARENT = ('101,K0001,Virtanen,Maija Liisa,1980-03-14,F,maija@example.fi,,040 123 4567,'
          'Yliopistonkatu 1 A 2,20100,Turku,TURKU,HENKILO,2015-01-02,2026-10-01 12:00:00,'
          '"HETU:140380-122R,KIELI:fi",,')
CHILD = ('102,K0002,Virtanen,Eetu,2014-06-01,M,,,040 123 4567,Yliopistonkatu 1 A 2,20100,Turku,'
         'TURKU,LAPSI,2020-08-10,2026-11-02 08:30:00,,101,äiti')


def write(tmp_path: Path, lines: list[str], name: str = "patrons.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def read_all(tmp_path: Path, path: Path, watermark: str | None = None, **options):
    conn = make_connector("koha", {"connector": "koha-csv", "path": path.name, **options}, tmp_path)
    items = list(conn.read(watermark))
    records = [i for i in items if isinstance(i, SourceRecordIn)]
    rejected = [i for i in items if isinstance(i, RejectedRow)]
    return conn, records, rejected


# --------------------------------------------------------------------------- koha-csv
def test_patron_csv_maps_every_column(tmp_path):
    conn, records, rejected = read_all(tmp_path, write(tmp_path, [HEADER, PARENT, CHILD]))
    assert rejected == [] and conn.full_export is True
    parent, child = records
    assert parent.source_id == "101" and parent.row_ref == "patrons.csv:2"
    assert parent.names[0].given == "Maija Liisa" and parent.names[0].family == "Virtanen"
    assert parent.birth_date == "1980-03-14" and parent.sex == "female" and child.sex == "male"
    assert IdentifierIn("library_card", "K0001") in parent.identifiers
    assert IdentifierIn("hetu", "140380-122R") in parent.identifiers
    assert IdentifierIn("email", "maija@example.fi") in parent.identifiers
    assert IdentifierIn("phone", "040 123 4567", use="mobile") in parent.identifiers
    assert parent.attributes == {"patron_attributes": {"KIELI": "fi"}, "category": "HENKILO",
                                 "branch": "TURKU", "date_enrolled": "2015-01-02"}
    assert parent.addresses[0].street == "Yliopistonkatu 1 A 2" and parent.addresses[0].postal_code == "20100"
    assert parent.updated_at == datetime(2026, 10, 1, 12, 0)
    assert parent.raw["cardnumber"] == "K0001"
    assert child.relations == [RelationIn("guardian_of", "101", "102", label="äiti")]
    assert conn.new_watermark == "2026-11-02T08:30:00"


def test_full_export_ignores_watermark_but_advances_it(tmp_path):
    conn, records, _ = read_all(tmp_path, write(tmp_path, [HEADER, PARENT, CHILD]), "2026-10-15T00:00:00")
    assert len(records) == 2  # a full export must stay complete (missing = deleted)
    assert conn.new_watermark == "2026-11-02T08:30:00"
    conn, _, _ = read_all(tmp_path, write(tmp_path, [HEADER, PARENT]), "2026-12-01T00:00:00")
    assert conn.new_watermark == "2026-12-01T00:00:00"  # never moves backwards


def test_latin1_file_read_as_utf8_fails_with_byte_offset(tmp_path):
    path = write(tmp_path, [HEADER, CHILD], encoding="latin-1")
    with pytest.raises(ConnectorError) as err:
        read_all(tmp_path, path)
    offset = path.read_bytes().index("ä".encode("latin-1"))
    msg = str(err.value)
    assert f"patrons.csv is not valid utf-8 at byte {offset} (line 2)" in msg
    assert 'encoding = "latin-1"' in msg and "\n" not in msg


def test_latin1_file_with_fallback_encoding_loads_with_warning(tmp_path):
    path = write(tmp_path, [HEADER, CHILD, PARENT.replace("Maija", "Märta-Öllö")], encoding="latin-1")
    with pytest.warns(ConnectorWarning, match="re-reading it as iso8859-1"):
        conn, records, rejected = read_all(tmp_path, path, fallback_encoding="latin-1")
    assert rejected == []
    assert records[0].relations[0].label == "äiti"
    assert records[1].names[0].given == "Märta-Öllö Liisa"
    assert conn.warnings and "fallback_encoding" in conn.warnings[0]


def test_latin1_configured_explicitly(tmp_path):
    path = write(tmp_path, [HEADER, CHILD], encoding="cp1252")
    _, records, _ = read_all(tmp_path, path, encoding="cp1252")
    assert records[0].relations[0].label == "äiti"


def test_utf8_file_read_as_latin1_is_mojibake(tmp_path):
    path = write(tmp_path, [HEADER, CHILD])
    with pytest.raises(ConnectorError, match=r"patrons.csv line 2 contains 'Ã¤'.*mojibake"):
        read_all(tmp_path, path, encoding="latin-1")


def test_missing_required_column_names_column_and_file(tmp_path):
    header = HEADER.replace("borrowernumber,", "")
    row = PARENT.split(",", 1)[1]
    with pytest.raises(ConnectorError, match=r"patrons.csv: missing required column 'borrowernumber'"):
        read_all(tmp_path, write(tmp_path, [header, row]))


def test_optional_columns_may_be_absent(tmp_path):
    path = write(tmp_path, ["borrowernumber,surname,firstname", "7,Nieminen,Aino"])
    _, records, _ = read_all(tmp_path, path)
    assert records[0].names[0].family == "Nieminen" and records[0].identifiers == []


def test_malformed_rows_are_quarantined_and_the_rest_loads(tmp_path):
    short = "103,K0003,Lahtinen"
    broken_quote = '104,K0004,Salo,"Ville,1990-01-01,M,,,,,,,,,,,,,'
    no_id = "," + PARENT.split(",", 1)[1]
    lines = [HEADER, PARENT, short, broken_quote, no_id, CHILD]
    conn, records, rejected = read_all(tmp_path, write(tmp_path, lines))
    assert [r.source_id for r in records] == ["101", "102"]
    assert [(r.row_ref, r.reason) for r in rejected] == [
        ("patrons.csv:3", "expected 19 fields, found 3"),
        ("patrons.csv:4", "unparseable CSV: unbalanced quotes"),
        ("patrons.csv:5", "empty borrowernumber"),
    ]
    assert rejected[0].raw == short and rejected[1].raw == broken_quote
    assert records[1].row_ref == "patrons.csv:6"


def test_quoted_multiline_address_is_one_row(tmp_path):
    row = PARENT.replace("Yliopistonkatu 1 A 2", '"Yliopistonkatu 1 A 2\nc/o Virtanen"')
    _, records, rejected = read_all(tmp_path, write(tmp_path, [HEADER, row, CHILD]))
    assert rejected == []
    assert records[0].addresses[0].street == "Yliopistonkatu 1 A 2\nc/o Virtanen"
    assert records[1].row_ref == "patrons.csv:4"  # physical line numbers


def test_invalid_identifiers_pass_through(tmp_path):
    row = PARENT.replace("HETU:140380-122R", "HETU:140380-122X").replace("040 123 4567", "puh. ei ole")
    row = row.replace("maija@example.fi", "maija(at)example")
    _, records, _ = read_all(tmp_path, write(tmp_path, [HEADER, row]))
    values = {(i.type, i.value) for i in records[0].identifiers}
    assert {("hetu", "140380-122X"), ("phone", "puh. ei ole"), ("email", "maija(at)example")} <= values


def test_duplicate_borrowernumbers_keep_the_last_row(tmp_path):
    newer = PARENT.replace("Maija Liisa", "Maija").replace("2026-10-01", "2026-11-05")
    lines = [HEADER, PARENT, CHILD, newer]
    _, records, rejected = read_all(tmp_path, write(tmp_path, lines))
    assert [(r.source_id, r.row_ref) for r in records] == [("102", "patrons.csv:3"), ("101", "patrons.csv:4")]
    assert records[1].names[0].given == "Maija"
    assert [(r.row_ref, r.reason) for r in rejected] == [("patrons.csv:2", "duplicate source id 101 (kept row 4)")]
    # Deterministic: the same file gives the same result.
    assert read_all(tmp_path, write(tmp_path, lines))[1:] == (records, rejected)


def test_bom_semicolons_and_crlf(tmp_path):
    text = "\r\n".join([HEADER.replace(",", ";"), CHILD.replace(",", ";")]) + "\r\n"
    path = tmp_path / "patrons.csv"
    path.write_bytes(text.encode("utf-8-sig"))
    _, records, rejected = read_all(tmp_path, path, delimiter=";")
    assert rejected == [] and records[0].source_id == "102" and records[0].raw["borrowernumber"] == "102"
    assert records[0].relations[0].label == "äiti"


def test_missing_file_and_unknown_connector(tmp_path):
    with pytest.raises(ConnectorError, match="file not found: .*nope.csv"):
        read_all(tmp_path, tmp_path / "nope.csv")
    with pytest.raises(ConnectorError) as err:
        make_connector("x", {"connector": "koha-xml"}, tmp_path)
    assert "unknown connector 'koha-xml'" in str(err.value)
    assert all(kind in str(err.value) for kind in CONNECTORS)


def test_patron_attribute_values_may_contain_commas():
    assert parse_patron_attributes("HETU:010101-123N,NOTE:a, b,KIELI:sv") == [
        ("HETU", "010101-123N"), ("NOTE", "a, b"), ("KIELI", "sv")]


# --------------------------------------------------------------------------- koha-api
def patron(n: int, updated: str = "2026-11-01T10:00:00+00:00", **extra) -> dict:
    return {"patron_id": n, "cardnumber": f"K{n:04d}", "surname": "Korhonen", "firstname": "Aino",
            "middle_name": "Maria", "preferred_name": "Aino", "date_of_birth": "2001-02-03", "gender": "F",
            "email": f"aino{n}@example.fi", "phone": None, "mobile": "0401234567", "sms_number": "0401234567",
            "address": "Linnankatu 5", "postal_code": "20100", "city": "Turku", "library_id": "TURKU",
            "category_id": "HENKILO", "date_enrolled": "2020-01-01", "expiry_date": "2030-01-01",
            "updated_on": updated, "extended_attributes": [{"type": "HETU", "value": "030201A123X"},
                                                          {"type": "KIELI", "value": "fi"}], **extra}


def paged(patrons: list[dict], total_header: bool = True):
    def route(seen):
        page, per = int(seen.query["_page"][0]), int(seen.query["_per_page"][0])
        chunk = patrons[(page - 1) * per: page * per]
        return Reply(200, chunk, {"X-Total-Count": str(len(patrons))} if total_header else {})
    return route


def api(url: str, tmp_path: Path, **options):
    opts = {"connector": "koha-api", "url": url, "per_page": 2, "retries": 2, "timeout": 0.3, "backoff": 0.01,
            "username_env": "KOHA_T_USER", "password_env": "KOHA_T_PASS", **options}
    return make_connector("koha-rest", opts, tmp_path)


@pytest.fixture
def koha(monkeypatch):
    monkeypatch.setenv("KOHA_T_USER", "mdm")
    monkeypatch.setenv("KOHA_T_PASS", "vaski")
    with RecordedServer(basic=("mdm", "vaski")) as srv:
        yield srv


@pytest.mark.parametrize("total_header", [True, False])
def test_api_pages_through_all_patrons(koha, tmp_path, total_header):
    koha.routes["/api/v1/patrons"] = paged([patron(n) for n in range(1, 6)], total_header)
    conn = api(koha.url, tmp_path)
    records = list(conn.read(None))
    assert [r.source_id for r in records] == ["1", "2", "3", "4", "5"]
    pages = [r.query["_page"] for r in koha.hits("/api/v1/patrons")]
    assert pages == [["1"], ["2"], ["3"]]
    assert all("q" not in r.query for r in koha.requests)
    first = records[0]
    assert conn.full_export is False
    assert first.names[0].given == "Aino Maria" and first.names[0].calling == "Aino" and first.sex == "female"
    assert IdentifierIn("hetu", "030201A123X") in first.identifiers
    assert IdentifierIn("phone", "0401234567", use="mobile") in first.identifiers
    assert first.attributes["patron_attributes"] == {"KIELI": "fi"}
    assert first.attributes["category"] == "HENKILO" and first.raw["patron_id"] == 1


def test_api_watermark_query_and_new_watermark(koha, tmp_path):
    koha.routes["/api/v1/patrons"] = paged([patron(1, "2026-11-03T09:00:00+00:00"),
                                            patron(2, "2026-11-04T07:15:00+00:00")])
    conn = api(koha.url, tmp_path)
    assert len(list(conn.read("2026-11-01T00:00:00+00:00"))) == 2
    q = koha.requests[0].query["q"][0]
    assert json.loads(q) == {"updated_on": {">": "2026-11-01T00:00:00+00:00"}}
    assert conn.new_watermark == "2026-11-04T07:15:00+00:00"


def test_api_nothing_new_keeps_watermark(koha, tmp_path):
    koha.routes["/api/v1/patrons"] = [Reply(200, [], {"X-Total-Count": "0"})]
    conn = api(koha.url, tmp_path)
    assert list(conn.read("2026-11-01T00:00:00")) == []
    assert conn.new_watermark == "2026-11-01T00:00:00"


def test_api_retries_a_500(koha, tmp_path):
    koha.routes["/api/v1/patrons"] = [Reply(500, {"error": "db"}), Reply(200, [patron(1)], {"X-Total-Count": "1"})]
    assert [r.source_id for r in api(koha.url, tmp_path).read(None)] == ["1"]
    assert len(koha.requests) == 2


def test_api_slow_answer_beyond_timeout_then_success(koha, tmp_path):
    koha.routes["/api/v1/patrons"] = [Reply(200, [patron(9)], delay=0.8),
                                      Reply(200, [patron(1)], {"X-Total-Count": "1"})]
    assert [r.source_id for r in api(koha.url, tmp_path).read(None)] == ["1"]


def test_api_persistent_5xx_fails(koha, tmp_path):
    koha.routes["/api/v1/patrons"] = [Reply(503)]
    with pytest.raises(ConnectorError, match=r"koha-api.*failed after 3 attempts: HTTP 503"):
        list(api(koha.url, tmp_path).read(None))


def test_api_wrong_password_is_rejected_by_server(koha, tmp_path, monkeypatch):
    monkeypatch.setenv("KOHA_T_PASS", "wrong")
    koha.routes["/api/v1/patrons"] = paged([patron(1)])
    with pytest.raises(ConnectorError, match="HTTP 401"):
        list(api(koha.url, tmp_path).read(None))
    assert len(koha.requests) == 1  # 401 is not retried


def test_api_bad_items_are_quarantined(koha, tmp_path):
    koha.routes["/api/v1/patrons"] = [Reply(200, [patron(1), {"surname": "X"}, "junk",
                                                  patron(2, guarantor_id=1, extended_attributes="x")])]
    items = list(api(koha.url, tmp_path, per_page=10).read(None))
    assert [type(i).__name__ for i in items] == ["SourceRecordIn", "RejectedRow", "RejectedRow", "RejectedRow"]
    assert items[1].reason == "patron without patron_id" and items[1].row_ref.endswith("_page=1#1")


def test_api_patron_changed_while_paging(koha, tmp_path):
    # Patron 2 was edited between page 1 and page 2, so the server returns it twice.
    pages = {"1": [patron(1, "2026-11-03T00:00:00+00:00"), patron(2, "2026-11-02T00:00:00+00:00")],
             "2": [patron(2, "2026-11-06T00:00:00+00:00", surname="Uusi"), patron(3, "2026-11-05T00:00:00+00:00")]}
    koha.routes["/api/v1/patrons"] = lambda seen: Reply(200, pages.get(seen.query["_page"][0], []),
                                                        {"X-Total-Count": "4"})
    conn = api(koha.url, tmp_path)
    items = list(conn.read("2026-11-01T00:00:00+00:00"))
    assert [i.source_id for i in items if isinstance(i, SourceRecordIn)] == ["1", "2", "3"]
    dup = [i for i in items if isinstance(i, RejectedRow)]
    assert [d.reason for d in dup] == ["duplicate source id 2 (kept the copy on page 1)"]
    # The newer copy was not stored, so the next read must fetch it again.
    assert conn.new_watermark == "2026-11-02T00:00:00+00:00"
