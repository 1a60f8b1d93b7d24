"""oneroster-csv: a OneRoster 1.1 bundle as a folder and as a zip."""
from __future__ import annotations

import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from connectors import ConnectorError, ConnectorWarning, make_connector
from connectors.oneroster_csv import parse_user_ids, split_ids
from mdm._typing import IdentifierIn, RejectedRow, RelationIn, SourceRecordIn

USERS_HEADER = ("sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
                "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password")
STUDENT = ('s1,active,2026-09-01T08:00:00Z,true,"org1,org2",student,eetu.v,"{HETU:010614A123K},{Wilma:W-777}",'
           'Eetu,Virtanen,Onni Olavi,OPP-1,eetu@edu.turku.fi,,,"\'p1\', \'p2\'",06,')
PARENT1 = 'p1,active,2026-08-01T08:00:00Z,true,org1,parent,,,Maija,Virtanen,,,maija@example.fi,040 123 4567,,s1,,'
PARENT2 = 'p2,active,2026-08-01T08:00:00Z,true,org1,guardian,,,Ville,Mäkinen,,,,,02 123 456,s1,,'
GONE = 'p3,tobedeleted,2026-08-02T08:00:00Z,false,org1,relative,,,Old,Relative,,,,,,s1,,'
TEACHER = 't1,active,2026-08-01T08:00:00Z,true,org1,teacher,opettaja,{Wilma:T-1},Outi,Opettaja,,,,,,,,'
DEMO_HEADER = "sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative"
DEMO_S1 = "s1,active,2026-10-01T00:00:00Z,2014-06-01,male,false"
DEMO_T1 = "t1,active,2026-01-01T00:00:00Z,1975-01-31,unspecified,false"


def bundle_files(users: list[str], demographics: list[str] | None) -> dict[str, str]:
    files = {"users.csv": "\n".join(users) + "\n", "orgs.csv": "sourcedId,name\norg1,Puolalan koulu\n"}
    if demographics is not None:
        files["demographics.csv"] = "\n".join(demographics) + "\n"
    return files


def as_folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "oneroster"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def as_zip(tmp_path: Path, files: dict[str, str]) -> Path:
    path = tmp_path / "oneroster.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"export-2026-11-01/{name}", text.encode("utf-8"))
    return path


def read_all(tmp_path: Path, path: Path, **options):
    conn = make_connector("wilma", {"connector": "oneroster-csv", "path": str(path), **options}, tmp_path)
    items = list(conn.read(None))
    return (conn, [i for i in items if isinstance(i, SourceRecordIn)],
            [i for i in items if isinstance(i, RejectedRow)])


FULL = bundle_files([USERS_HEADER, STUDENT, PARENT1, PARENT2, GONE, TEACHER], [DEMO_HEADER, DEMO_S1, DEMO_T1])


@pytest.mark.parametrize("layout", [as_folder, as_zip])
def test_bundle_joins_users_and_demographics(tmp_path, layout):
    conn, records, rejected = read_all(tmp_path, layout(tmp_path, FULL))
    assert rejected == [] and conn.full_export is True
    by_id = {r.source_id: r for r in records}
    assert sorted(by_id) == ["p1", "p2", "s1", "t1"]  # p3 is tobedeleted: not present
    s1 = by_id["s1"]
    assert s1.names[0].given == "Eetu Onni Olavi" and s1.names[0].family == "Virtanen"
    assert s1.birth_date == "2014-06-01" and s1.sex == "male"
    assert IdentifierIn("oneroster_id", "s1") in s1.identifiers
    assert IdentifierIn("hetu", "010614A123K") in s1.identifiers
    assert IdentifierIn("student_id", "W-777", system="Wilma") in s1.identifiers
    assert IdentifierIn("student_id", "OPP-1", system="identifier") in s1.identifiers
    assert s1.relations == [RelationIn("guardian_of", "p1", "s1"), RelationIn("guardian_of", "p2", "s1")]
    assert s1.attributes["role"] == "student" and s1.attributes["org_ids"] == ["org1", "org2"]
    assert s1.updated_at == datetime(2026, 10, 1, tzinfo=timezone.utc)  # demographics were newer
    assert s1.raw["demographics"]["sex"] == "male" and s1.row_ref.endswith("/users.csv:2")
    p1 = by_id["p1"]
    assert p1.birth_date is None and p1.sex is None and p1.attributes["role"] == "parent"
    assert IdentifierIn("phone", "040 123 4567", use="mobile") in p1.identifiers
    assert p1.relations == [] and p1.attributes["agent_ids"] == ["s1"]  # stated once, by the student
    assert by_id["p2"].names[0].family == "Mäkinen"
    t1 = by_id["t1"]
    assert t1.sex == "unknown" and IdentifierIn("other", "T-1", system="Wilma") in t1.identifiers
    assert conn.new_watermark == "2026-10-01T00:00:00+00:00"


def test_missing_demographics_file_warns(tmp_path):
    with pytest.warns(ConnectorWarning, match="no demographics.csv"):
        _, records, _ = read_all(tmp_path, as_folder(tmp_path, bundle_files([USERS_HEADER, STUDENT], None)))
    assert records[0].birth_date is None


def test_missing_users_file_and_missing_column(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(ConnectorError, match="has no users.csv"):
        read_all(tmp_path, folder)
    users = [USERS_HEADER.replace("familyName", "lastName"), STUDENT]
    with pytest.raises(ConnectorError, match=r"oneroster.zip/users.csv: missing required column 'familyName'"):
        read_all(tmp_path, as_zip(tmp_path, bundle_files(users, [DEMO_HEADER])))


def test_not_a_bundle(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ConnectorError, match="neither a folder nor a zip"):
        read_all(tmp_path, tmp_path / "x.txt")


def test_duplicates_and_malformed_rows(tmp_path):
    newer = STUDENT.replace("Eetu,Virtanen", "Eetu,Virtanen-Mäkinen")
    users = [USERS_HEADER, STUDENT, "x1,active,broken", PARENT1, newer]
    demo = [DEMO_HEADER, DEMO_S1, "s1,active,2026-10-02T00:00:00Z,2014-06-02,male,false"]
    _, records, rejected = read_all(tmp_path, as_folder(tmp_path, bundle_files(users, demo)))
    s1 = next(r for r in records if r.source_id == "s1")
    assert s1.names[0].family == "Virtanen-Mäkinen" and s1.birth_date == "2014-06-02"
    reasons = {(r.row_ref.split("/")[-1], r.reason) for r in rejected}
    assert reasons == {("demographics.csv:2", "duplicate source id s1 (kept row 3)"),
                       ("users.csv:3", "expected 18 fields, found 3"),
                       ("users.csv:2", "duplicate source id s1 (kept row 5)")}


def test_latin1_bundle_needs_encoding(tmp_path):
    folder = as_folder(tmp_path, FULL)
    (folder / "users.csv").write_bytes("\n".join([USERS_HEADER, PARENT2]).encode("latin-1"))
    with pytest.raises(ConnectorError, match=r"users.csv is not valid utf-8 at byte \d+ \(line 2\)"):
        read_all(tmp_path, folder)
    _, records, _ = read_all(tmp_path, folder, encoding="latin-1")  # demographics.csv is plain ASCII
    assert records[0].names[0].family == "Mäkinen"
    # fallback applies per file: the UTF-8 file stays UTF-8, the Latin-1 one falls back.
    with pytest.warns(ConnectorWarning):
        _, records, _ = read_all(tmp_path, folder, fallback_encoding="latin-1")
    assert records[0].names[0].family == "Mäkinen"


def test_user_id_and_agent_parsing():
    assert parse_user_ids("{HETU:010614A123K},{ Wilma : W-1 },{Empty:}") == [("HETU", "010614A123K"),
                                                                              ("Wilma", "W-1")]
    assert split_ids('"p1", p2 ,\'p3\',,') == ["p1", "p2", "p3"]
