"""mdm export golden|xref|identifiers as CSV and Parquet: coverage, masking, turvakielto, audit."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import distinct, func, select

from mdm.cli import main
from mdm.config import load_config
from mdm.services.export import COLUMNS, ExportError, export
from mdm.services.reconcile import reconcile
from mdm.store import models as m
from test_reconcile_support import edit_csv, private_demo, seed_model

MASKED = re.compile(r"^\d{6}[-+A-FU-Y]\*{4}$")
HETU_TYPES = ("hetu", "kela_card", "temporary_id")


def _read(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Rows as dicts of strings ("" for empty), the same for both formats."""
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    def text(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return v.isoformat() if hasattr(v, "isoformat") else str(v)

    return [{k: text(v) for k, v in row.items()} for row in pq.read_table(path).to_pylist()]


@pytest.fixture
def reconciled(store, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A reconciled store in which a few records were deleted from their source since."""
    demo = private_demo(tmp_path)
    monkeypatch.setenv("MDM_VAR_DIR", str(tmp_path / "var"))
    config = load_config(demo / "mdm.toml")
    seed_model(store)
    reconcile(store, config)
    edit_csv(demo / "transit" / "cards.csv", lambda rows: rows[3:])
    reconcile(store, config)
    return store


def test_exports_in_both_formats(reconciled, tmp_path):
    store = reconciled
    with store.session() as s:
        current = {(src, sid) for src, sid in s.execute(
            select(m.SourceSystem.name, m.SourceRecord.source_id).join(m.SourceSystem)
            .where(m.SourceRecord.deleted_at.is_(None)))}
        deleted = s.scalar(select(func.count()).select_from(m.SourceRecord)
                           .where(m.SourceRecord.deleted_at.is_not(None)))
        active = set(s.scalars(select(m.GoldenRecord.id).where(m.GoldenRecord.status == "active")))
        hetus = set(s.scalars(select(m.Identifier.value).where(m.Identifier.type.in_(HETU_TYPES),
                                                                m.Identifier.value.is_not(None))))
        held = (select(m.Identifier.type, m.Identifier.value, m.GoldenLink.golden_id)
                .join(m.GoldenLink, m.GoldenLink.source_record_id == m.Identifier.source_record_id)
                .join(m.SourceRecord, m.SourceRecord.id == m.Identifier.source_record_id)
                .where(m.SourceRecord.deleted_at.is_(None))).subquery()
        shared = {(t, v) for t, v in s.execute(select(held.c.type, held.c.value).group_by(held.c.type, held.c.value)
                                               .having(func.count(distinct(held.c.golden_id)) > 1))}
    assert deleted == 3 and hetus
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for fmt in ("csv", "parquet"):
        results[fmt] = {}
        for kind in ("golden", "xref", "identifiers"):
            out = tmp_path / f"{kind}.{fmt}"
            res = export(store, kind, fmt, out)
            rows = _read(out, fmt)
            assert res.rows == len(rows) and not res.hetu_revealed
            assert list(rows[0]) == [c for c, _t in COLUMNS[kind]]
            results[fmt][kind] = rows
            # No full HETU anywhere in a default export.
            blob = out.read_bytes() if fmt == "csv" else str(rows).encode()
            assert not any(h.encode() in blob for h in hetus)
    assert results["csv"] == results["parquet"]
    golden, xref, idents = (results["csv"][k] for k in ("golden", "xref", "identifiers"))

    # xref: exactly the current records, each with its golden record and the configured source name.
    assert {(r["source"], r["source_id"]) for r in xref} == current and len(xref) == len(current)
    assert {r["golden_id"] for r in xref} == active
    assert {r["source"] for r in xref} == {"library", "school", "health", "transit"}
    assert {r["link_kind"] for r in xref} <= {"auto", "rule", "steward"}

    # golden: one row per active golden record, HETU masked, counts and sources agree with xref.
    assert {r["golden_id"] for r in golden} == active and len(golden) == len(active)
    assert all(MASKED.match(r["hetu"]) for r in golden if r["hetu"])
    assert any(r["hetu"] for r in golden)
    per_golden: dict[str, list[str]] = {}
    for r in xref:
        per_golden.setdefault(r["golden_id"], []).append(r["source"])
    for r in golden:
        assert int(r["records"]) == len(per_golden[r["golden_id"]])
        assert r["sources"] == ",".join(sorted(set(per_golden[r["golden_id"]])))
    protected = [r for r in golden if r["turvakielto"] == "true"]
    assert protected, "the demo has people under turvakielto"
    for r in protected:
        assert not any(r[c] for c in ("phone", "email", "address", "address_street_name", "address_postal_code"))

    # identifiers: HETU types masked, contact details of protected people left out, shared flags right.
    for r in idents:
        if r["type"] in HETU_TYPES and r["value"]:
            assert "*" in r["value"]
        assert r["shared"] == ("true" if (r["type"], r["value"]) in shared else "false") or r["type"] in HETU_TYPES
    assert any(r["shared"] == "true" for r in idents)
    hidden = {r["golden_id"] for r in protected}
    assert not [r for r in idents if r["golden_id"] in hidden and r["type"] in ("phone", "email")]
    assert {r["golden_id"] for r in idents} <= active


def test_reveal_needs_actor_and_reason_and_is_audited(sqlite_store, tmp_path, monkeypatch):
    demo = private_demo(tmp_path)
    monkeypatch.setenv("MDM_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MDM_DATABASE_URL", sqlite_store.url)
    seed_model(sqlite_store)
    reconcile(sqlite_store, load_config(demo / "mdm.toml"))
    runner = CliRunner()
    base = ["export", "identifiers", "--config", str(demo / "mdm.toml"), "--format", "parquet"]
    out = tmp_path / "ids.parquet"
    res = runner.invoke(main, [*base, "--out", str(out), "--reveal-hetu"])
    assert res.exit_code == 2 and "--actor" in res.output and not out.exists()
    res = runner.invoke(main, [*base, "--out", str(out), "--reveal-hetu", "--actor", "anna"])
    assert res.exit_code == 2 and "--reason" in res.output
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.AuditEvent)) == 0
    res = runner.invoke(main, [*base, "--out", str(out), "--reveal-hetu", "--actor", "anna",
                               "--reason", "population register check"])
    assert res.exit_code == 0, res.output
    assert "HETUs revealed" in res.output
    values = [r["value"] for r in _read(out, "parquet") if r["type"] == "hetu" and r["value"]]
    assert values and not any("*" in v for v in values)
    with sqlite_store.session() as s:
        (event,) = s.scalars(select(m.AuditEvent)).all()
    assert (event.actor, event.action, event.target_id) == ("anna", "reveal_hetu", "identifiers")
    assert event.details["reason"] == "population register check"
    # The default stays masked, and the xref needs no reveal at all.
    res = runner.invoke(main, ["export", "golden", "--config", str(demo / "mdm.toml"), "--out",
                               str(tmp_path / "g.csv")])
    assert res.exit_code == 0 and "HETUs masked" in res.output
    assert all(MASKED.match(r["hetu"]) for r in _read(tmp_path / "g.csv", "csv") if r["hetu"])
    with pytest.raises(ExportError, match="does not exist"):
        export(sqlite_store, "xref", "csv", tmp_path / "missing" / "x.csv")
