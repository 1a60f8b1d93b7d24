"""foli-csv: the Föli travel-card registry export (fixture tests/data/connectors/foli_cards.csv)."""
from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

import pytest

from connectors import ConnectorError, ConnectorWarning, make_connector
from mdm._typing import AddressIn, IdentifierIn, NameIn, RejectedRow, SourceRecordIn

FIXTURE = Path(__file__).parent / "data" / "connectors" / "foli_cards.csv"


def read_all(base: Path, name: str = "foli_cards.csv", **options):
    conn = make_connector("foli", {"connector": "foli-csv", "path": name, **options}, base)
    items = list(conn.read(None))
    return (conn, [i for i in items if isinstance(i, SourceRecordIn)],
            [i for i in items if isinstance(i, RejectedRow)])


def lines(tmp_path: Path, extra: list[str], encoding: str = "utf-8") -> Path:
    text = FIXTURE.read_text(encoding="utf-8").rstrip("\n").split("\n") + extra
    (tmp_path / "foli_cards.csv").write_bytes(("\n".join(text) + "\n").encode(encoding))
    return tmp_path


def test_cards_and_holders():
    conn, records, rejected = read_all(FIXTURE.parent)
    assert rejected == [] and conn.full_export is True
    lost, active, closed, odd = records
    assert lost.source_id == "F-1001" and lost.row_ref == "foli_cards.csv:2"
    assert lost.identifiers[0] == IdentifierIn("transit_card", "F-1001", status="lost",
                                               valid_from=date(2021, 8, 1), valid_to=date(2024, 2, 10))
    assert active.identifiers[0] == IdentifierIn("transit_card", "F-1002", status="active",
                                                 valid_from=date(2024, 2, 11))
    assert IdentifierIn("hetu", "010614A123K") in active.identifiers
    assert IdentifierIn("phone", "040 123 4567") in active.identifiers
    assert lost.names == [NameIn("Eetu Onni", "Virtanen")] and lost.birth_date == "2014-06-01"
    assert lost.addresses == [AddressIn("Yliopistonkatu 1 A 2", "20100", "Turku")]
    assert lost.attributes == {"card_type": "personal_value", "customer_group": "child",
                               "issued_on": "2021-08-01", "card_status": "lost"}
    assert lost.updated_at == datetime(2024, 2, 10, 9, 15)
    # Older registry rows: upper case, kept as written (rules/ normalise).
    assert closed.names == [NameIn("MAIJA", "VIRTANEN")]
    assert closed.identifiers[0].status == "closed" and closed.identifiers[0].valid_to == date(2015, 5, 31)
    # Unknown status -> inactive; a temporary HETU is passed through (rules/ flag it).
    assert odd.identifiers[0].status == "inactive" and odd.attributes["card_status"] == "blocked"
    assert IdentifierIn("hetu", "241250-9999") in odd.identifiers and odd.updated_at is None
    assert odd.names[0].family == "Åkerblom" and odd.addresses == []
    assert conn.new_watermark == "2024-02-11T10:00:00"


def test_duplicates_and_malformed_rows(tmp_path):
    base = lines(tmp_path, ["F-1001,personal_value,child,Eetu Onni,Virtanen,2014-06-01,010614A123K,,,,,,"
                            "closed,2021-08-01,2024-03-01T00:00:00",
                            "F-3,only,four,fields", ",season,adult,X,Y,,,,,,,,active,,"])
    _, records, rejected = read_all(base)
    assert [r.source_id for r in records] == ["F-1002", "F-0007", "F-2000", "F-1001"]
    assert records[-1].identifiers[0].status == "closed"
    assert [(r.row_ref, r.reason) for r in rejected] == [
        ("foli_cards.csv:2", "duplicate source id F-1001 (kept row 6)"),
        ("foli_cards.csv:7", "expected 15 fields, found 4"),
        ("foli_cards.csv:8", "empty card_number")]


def test_latin1_registry_export(tmp_path):
    base = lines(tmp_path, [], encoding="latin-1")
    with pytest.raises(ConnectorError, match="foli_cards.csv is not valid utf-8 at byte"):
        read_all(base)
    with pytest.warns(ConnectorWarning):
        _, records, _ = read_all(base, fallback_encoding="cp1252")
    assert records[3].names == [NameIn("Märta", "Åkerblom")]


def test_utf8_read_as_latin1_and_missing_column(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "foli_cards.csv")
    with pytest.raises(ConnectorError, match=r"line 5 contains 'Ã¤'"):
        read_all(tmp_path, encoding="latin-1")
    text = FIXTURE.read_text(encoding="utf-8").replace("holder_last_name", "last_name").replace(",status,", ",state,")
    (tmp_path / "foli_cards.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"foli_cards.csv: missing required columns 'holder_last_name', 'status'"):
        read_all(tmp_path)
