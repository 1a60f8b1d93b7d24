"""connectors/_csv.py: encodings, mojibake, quoting, malformed rows, duplicates, streaming."""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import ConnectorError, ConnectorWarning
from connectors._csv import MOJIBAKE_RE, CsvFile, CsvRow, TextFile
from mdm._typing import RejectedRow


def _error(msg: str) -> ConnectorError:
    return ConnectorError(msg)


def csv_file(data: bytes, required=("id",), id_column="id", warnings: list | None = None, **options) -> CsvFile:
    sink = warnings if warnings is not None else []
    return CsvFile("t.csv", lambda: io.BytesIO(data), options, required=required, id_column=id_column,
                   make_error=_error, warn=sink.append)


def rows(data: bytes, **kw) -> tuple[list[CsvRow], list[RejectedRow]]:
    items = list(csv_file(data, **kw).rows())
    return ([i for i in items if isinstance(i, CsvRow)], [i for i in items if isinstance(i, RejectedRow)])


@pytest.mark.parametrize("word", ["Mäki", "Öhman", "Åbo", "ÄIJÄLÄ", "ÖSTERLUND", "Åkerö", "Renée", "Müller"])
@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_utf8_seen_as_single_byte_is_always_detected(word, encoding):
    mojibake = word.encode("utf-8").decode(encoding, errors="replace")
    assert MOJIBAKE_RE.search(mojibake), mojibake
    assert not MOJIBAKE_RE.search(word)
    data = f"id,name\n1,{word}\n".encode("utf-8")
    with pytest.raises(ConnectorError, match=r"t.csv line 2 contains .*mojibake.*encoding = \"utf-8\""):
        rows(data, encoding=encoding)


def test_double_encoded_utf8_is_detected_too():
    data = "id,name\n1,Mäki\n".encode("utf-8").decode("latin-1").encode("utf-8")
    with pytest.raises(ConnectorError, match="mojibake"):
        rows(data)


def test_legitimate_text_is_not_mojibake():
    good = "id,name\n1,SÃO PAULO\n2,Ärräpää Ö. Å\n3,Ça va – “ok”\n".encode("utf-8")
    assert len(rows(good)[0]) == 3


def test_byte_offset_of_the_bad_byte():
    data = "id,name\n1,Aino\n2,Mäki\n".encode("latin-1")
    with pytest.raises(ConnectorError) as err:
        rows(data)
    offset = data.index("ä".encode("latin-1"))
    assert f"at byte {offset} (line 3)" in str(err.value)


def test_nothing_is_yielded_before_a_late_encoding_error():
    data = ("id,name\n" + "".join(f"{i},Aino\n" for i in range(1000)) + "x,Mäki\n").encode("latin-1")
    reader = csv_file(data).rows()
    with pytest.raises(ConnectorError):
        next(reader)


def test_fallback_is_announced_and_undecodable_fallback_fails():
    warned: list[str] = []
    ok, _ = rows("id,name\n1,Mäki\n".encode("cp1252"), warnings=warned, fallback_encoding="cp1252")
    assert ok[0].values["name"] == "Mäki" and "re-reading it as cp1252" in warned[0]
    with pytest.raises(ConnectorError, match="not valid cp1252"):
        rows(b"id,name\n1,\xc3\x81\x9d\n\xff\x81\n", fallback_encoding="cp1252")


def test_bom_handling():
    ok, _ = rows(b"\xef\xbb\xbfid,name\n1,A\n")
    assert list(ok[0].values) == ["id", "name"]
    ok, _ = rows(b"\xef\xbb\xbfid,name\n1,A\n", encoding="utf-8-sig")
    assert ok[0].values["id"] == "1"
    with pytest.raises(ConnectorError, match="byte-order mark"):
        rows(b"\xef\xbb\xbfid,name\n1,A\n", encoding="latin-1")


def test_encoding_option_errors():
    with pytest.raises(ConnectorError, match="unknown encoding 'klingon'"):
        rows(b"id\n1\n", encoding="klingon")
    with pytest.raises(ConnectorError, match="not supported"):
        rows(b"id\n1\n", encoding="utf-16")
    with pytest.raises(ConnectorError, match="delimiter"):
        rows(b"id\n1\n", delimiter=";;")


def test_header_problems():
    with pytest.raises(ConnectorError, match="t.csv is empty"):
        rows(b"\n\n")
    with pytest.raises(ConnectorError, match="duplicate column.*name"):
        rows(b"id,name,name\n1,a,b\n")
    with pytest.raises(ConnectorError, match=r"t.csv: missing required columns 'id', 'x' \(header has: a, b\)"):
        rows(b"a,b\n1,2\n", required=("id", "x"))
    ok, _ = rows(b"\n id , name \n1,A\n")  # blank leading line and padded names are fine
    assert ok[0].values == {"id": "1", "name": "A"} and ok[0].ref == "t.csv:3"


def test_quoting_edge_cases():
    data = ('id,name,note\n'
            '1,"Virtanen, Maija","rivi 1\nrivi 2"\n'
            '2,O"Brien,plain\n'          # a lone quote inside a field is literal, not an error
            '3,"unterminated,x\n'        # an opening quote that never closes costs this row only
            '4,"He said ""hei""",ok\n'
            '5,Last,row\n').encode("utf-8")
    ok, bad = rows(data)
    assert [(r.line, r.values["name"]) for r in ok] == [
        (2, "Virtanen, Maija"), (4, 'O"Brien'), (6, 'He said "hei"'), (7, "Last")]
    assert ok[0].values["note"] == "rivi 1\nrivi 2" and ok[0].raw == '1,"Virtanen, Maija","rivi 1\nrivi 2"'
    assert [(r.row_ref, r.reason, r.raw) for r in bad] == [
        ("t.csv:5", "unparseable CSV: unbalanced quotes", '3,"unterminated,x')]


def test_blank_lines_are_skipped_and_ids_are_stripped():
    ok, bad = rows(b"id,name\n\n 7 ,A\n,,\n  ,B\n")
    assert [r.get("id") for r in ok] == ["7"] and [r.reason for r in bad] == ["empty id"]


def test_duplicates_last_wins_with_line_numbers():
    data = b"id,v\n1,a\n2,b\n1,c\n3,d\n1,e\n"
    ok, bad = rows(data)
    assert [(r.get("id"), r.get("v")) for r in ok] == [("2", "b"), ("3", "d"), ("1", "e")]
    assert [(r.row_ref, r.reason) for r in bad] == [("t.csv:2", "duplicate source id 1 (kept row 6)"),
                                                    ("t.csv:4", "duplicate source id 1 (kept row 6)")]


def test_a_malformed_later_duplicate_does_not_win():
    ok, bad = rows(b"id,v\n1,a\n1,b,extra\n")
    assert [r.get("v") for r in ok] == ["a"] and bad[0].reason == "expected 2 fields, found 3"


def test_text_file_reports_open_errors(tmp_path: Path):
    missing = tmp_path / "gone.csv"
    text = TextFile("gone.csv", lambda: missing.open("rb"), {}, _error, print)
    with pytest.raises(ConnectorError, match="cannot open gone.csv"):
        list(text.lines())


def test_large_file_streams_quickly(tmp_path: Path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "given", "family", "street"])
        for i in range(100_000):
            w.writerow([i % 99_990, "Äijä", f"Mäkinen{i}", "Kauppatori 1, as. 2"])
    started = time.monotonic()
    count = dups = 0
    for item in CsvFile("big.csv", lambda: path.open("rb"), {}, required=("id",), id_column="id",
                        make_error=_error, warn=print).rows():
        if isinstance(item, CsvRow):
            count += 1
        else:
            dups += 1
    assert (count, dups) == (99_990, 10)
    assert time.monotonic() - started < 20


cell = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(
    ['"', ",", "\n", "ä", "Ö", " ", "\r"]), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(cell, cell), min_size=1, max_size=8))
def test_roundtrip_of_anything_csv_writer_produces(values):
    # Why: whatever a well-behaved exporter writes must come back unchanged (or be called mojibake).
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["id", "a", "b"])
    for i, (a, b) in enumerate(values):
        w.writerow([f"r{i}", a, b])
    data = buf.getvalue().encode("utf-8")
    try:
        ok, bad = rows(data)
    except ConnectorError as exc:
        assert "mojibake" in str(exc) and MOJIBAKE_RE.search(data.decode("utf-8"))
        return
    assert bad == []
    assert [(r.values["a"], r.values["b"]) for r in ok] == values
    assert [r.get("id") for r in ok] == [f"r{i}" for i in range(len(values))]
