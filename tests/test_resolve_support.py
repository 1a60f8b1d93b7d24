"""Builders shared by the match-on-entry tests (test_resolve_*.py, test_realtime_*.py); no tests here.

A reconciled demo population is built once per test session (it trains a
model) and copied for each test that writes.
"""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from connectors import make_connector
from mdm._typing import SourceRecordIn
from mdm.config import Config, load_config
from mdm.demo_data import generate
from mdm.services import matching as matching_svc
from mdm.services.reconcile import reconcile
from mdm.store import Store
from mdm.store import models as m

__all__ = ["DemoWorld", "build_demo", "canonical", "copy_store", "ensure_features", "golden_of",
           "source_records"]

DEMO_PERSONS = 500
DEMO_SEED = 3


@dataclass(frozen=True)
class DemoWorld:
    demo_dir: Path
    db_file: Path
    var_dir: Path

    def config(self) -> Config:
        cfg = load_config(self.demo_dir / "mdm.toml")
        cfg.var_dir = self.var_dir
        return cfg


_BUILT: dict[Path, DemoWorld] = {}


def ensure_features(store: Store, config: Config) -> None:
    """Feature rows for match-on-entry, if the reconciliation did not write them."""
    with store.session() as s:
        if s.scalar(select(func.count()).select_from(m.MatchFeature)):
            return
    outcome = matching_svc.run_matching(store, config, full=True)
    with store.session() as s:
        matching_svc.store_features(s, outcome)


def build_demo(base: Path, persons: int = DEMO_PERSONS, seed: int = DEMO_SEED) -> DemoWorld:
    """A reconciled demo population in a SQLite file under ``base`` (built once per session)."""
    root = base / f"resolve-demo-{persons}-{seed}"
    if root in _BUILT:
        return _BUILT[root]
    world = DemoWorld(root / "demo", root / "mdm.sqlite", root / "var")
    generate(world.demo_dir, persons=persons, seed=seed)
    store = Store(f"sqlite:///{world.db_file}")
    store.upgrade()
    reconcile(store, world.config())
    ensure_features(store, world.config())
    store.dispose()
    _BUILT[root] = world
    return world


def copy_store(world: DemoWorld, tmp_path: Path) -> Store:
    target = tmp_path / "mdm.sqlite"
    shutil.copyfile(world.db_file, target)
    return Store(f"sqlite:///{target}")


def source_records(world: DemoWorld, source: str) -> dict[str, SourceRecordIn]:
    """What the demo source's connector yields, by source id."""
    cfg = world.config()
    connector = make_connector(source, cfg.source(source), cfg.base_dir)
    return {r.source_id: r for r in connector.read(None) if isinstance(r, SourceRecordIn)}


def canonical(rec: SourceRecordIn, **changes: Any) -> dict[str, Any]:
    """A connector record as the API's canonical JSON (``raw`` and ``row_ref`` left out)."""
    def value(v: Any) -> Any:
        if isinstance(v, (date, datetime)):
            return v.isoformat()
        if isinstance(v, set):
            return sorted(v)
        if isinstance(v, list):
            return [value(x) for x in v]
        if isinstance(v, dict):
            return {k: value(x) for k, x in v.items() if x is not None}
        return v

    out = {k: value(v) for k, v in dataclasses.asdict(rec).items()
           if k not in ("raw", "row_ref", "kind") and v not in (None, [], {}, set())}
    for item in out.get("identifiers", []):
        item.pop("valid_from", None), item.pop("valid_to", None)
    if isinstance(out.get("updated_at"), str) and out["updated_at"][-6] not in "+-":
        out["updated_at"] += "+00:00"
    out.update(changes)
    return out


def golden_of(store: Store, source: str, source_id: str) -> str | None:
    with store.session() as s:
        return s.scalar(
            select(m.GoldenLink.golden_id)
            .join(m.SourceRecord, m.SourceRecord.id == m.GoldenLink.source_record_id)
            .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
            .where(m.SourceSystem.name == source, m.SourceRecord.source_id == source_id))
