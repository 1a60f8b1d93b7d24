"""A big run's golden stage computes survivorship in worker processes; the result is exactly
what computing it in process gives - on a full run and on the incremental run after it."""
from __future__ import annotations

from mdm.config import load_config
from mdm.services import survivors
from mdm.services.reconcile import reconcile
from mdm.store import Store
from test_reconcile_support import change_demo, counted_pools, golden_state, private_demo


def test_survivorship_in_workers_gives_the_same_golden_records(tmp_path, monkeypatch):
    pools = counted_pools(monkeypatch, survivors)
    demo = private_demo(tmp_path, persons=300, seed=5)
    config = load_config(demo / "mdm.toml")
    stores = {}
    for name, threshold in (("in-process", "100000000"), ("workers", "0")):
        monkeypatch.setenv("MDM_GOLDEN_WORKERS_AFTER", threshold)
        store = stores[name] = Store(f"sqlite:///{tmp_path / name}.sqlite")
        store.upgrade()
        config.var_dir = tmp_path / f"var-{name}"
        reconcile(store, config)
    assert len(pools) == 1
    first = [golden_state(s) for s in stores.values()]
    assert first[0]["goldens"] and first[0] == first[1]

    change_demo(demo)  # edits, moves and deletions: updates, merges and splits to recompute
    for name, threshold in (("in-process", "100000000"), ("workers", "0")):
        monkeypatch.setenv("MDM_GOLDEN_WORKERS_AFTER", threshold)
        config.var_dir = tmp_path / f"var-{name}"
        report = reconcile(stores[name], config)
        assert report["golden"]["updated"] or report["golden"]["created"]
    assert len(pools) == 2
    second = [golden_state(s) for s in stores.values()]
    assert second[0] != first[0] and second[0] == second[1]
    for store in stores.values():
        store.dispose()
