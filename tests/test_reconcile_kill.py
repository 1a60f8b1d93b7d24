"""A reconciliation killed (SIGKILL) at any point leaves the golden state as it was,
and running again reaches the same state as an uninterrupted run.

Real ``mdm reconcile`` subprocesses are killed by the ``MDM_KILL_AT`` hook of
mdm/services/reconcile.py. Two scenarios: the very first run on an empty store,
and a run after a good one when the sources changed. For each, the reference is
an uninterrupted run on a copy of the same store and data. The subprocesses of
all checkpoints run side by side (each on its own SQLite copy and var folder),
which keeps the module at a few dozen seconds.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mdm.demo_data import generate
from mdm.store import Store
from mdm.store import models as m
from test_reconcile_support import (
    change_demo, cli_env, copy_sqlite, golden_state, start_cli, table_counts,
)

pytestmark = pytest.mark.slow

CHECKPOINTS = ("after_pull", "after_match", "before_commit", "after_commit")
SCENARIOS = ("first_run", "changed_data")


@dataclass
class Outcome:
    """What happened to one copy: the killed run, the golden state after it, the re-run."""

    killed_rc: int
    killed_stderr: str
    counts_after_kill: dict[str, int]
    state_after_kill: dict[str, Any]
    rerun_rc: int
    rerun_output: str
    state_after_rerun: dict[str, Any]
    runs: list[tuple[str, str | None]]


@dataclass
class Scenario:
    counts_before: dict[str, int]
    state_before: dict[str, Any]
    reference: dict[str, Any]
    outcomes: dict[str, Outcome]


def _open(path: Path) -> Store:
    return Store(f"sqlite:///{path}")


def _snapshot(path: Path) -> tuple[dict[str, int], dict[str, Any]]:
    st = _open(path)
    try:
        return table_counts(st), golden_state(st)
    finally:
        st.dispose()


def _runs(path: Path) -> list[tuple[str, str | None]]:
    st = _open(path)
    try:
        with st.session() as s:
            return [(r.status, r.error) for r in s.scalars(select(m.ReconciliationRun)
                                                            .order_by(m.ReconciliationRun.id))]
    finally:
        st.dispose()


def _run_all(jobs: dict[Any, tuple[Path, Path, Path, str | None]]) -> dict[Any, tuple[int, str]]:
    """Run ``mdm reconcile`` for each job (db, var dir, config, kill point) side by side."""
    procs = {}
    for key, (db, var, config, kill_at) in jobs.items():
        extra = {"MDM_KILL_AT": kill_at} if kill_at else {}
        procs[key] = start_cli(["reconcile", "--config", str(config)], cli_env(db, var, **extra))
    out = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[key] = (proc.returncode, stdout + stderr)
    return out


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory) -> dict[str, Scenario]:
    base = tmp_path_factory.mktemp("kill")
    demo, demo2 = base / "demo", base / "demo2"
    generate(demo, persons=300, seed=11)
    with open(demo / "mdm.toml", "a", encoding="utf-8") as fh:
        # The runs go side by side on few cores: one DuckDB thread each competes less.
        fh.write("\n[matching]\nthreads = 1\n")
    shutil.copytree(demo, demo2)
    change_demo(demo2)
    empty = base / "empty.sqlite"
    st = _open(empty)
    st.upgrade()
    st.dispose()
    # Scenario 1 starts from the empty store; its reference run is the good run scenario 2 starts from.
    first_ref = base / "first_run-reference.sqlite"
    copy_sqlite(empty, first_ref)
    (rc, output), = _run_all({0: (first_ref, base / "var-first-ref", demo / "mdm.toml", None)}).values()
    assert rc == 0, output
    starts = {"first_run": (empty, demo), "changed_data": (first_ref, demo2)}
    second_ref = base / "changed_data-reference.sqlite"
    copy_sqlite(first_ref, second_ref)
    before = {name: _snapshot(start) for name, (start, _demo) in starts.items()}

    jobs: dict[Any, tuple[Path, Path, Path, str | None]] = {}
    for name, (start, data) in starts.items():
        for cp in CHECKPOINTS:
            db = base / f"{name}-{cp}.sqlite"
            copy_sqlite(start, db)
            jobs[(name, cp)] = (db, base / f"var-{name}-{cp}", data / "mdm.toml", cp)
    killed = _run_all({**jobs, "ref": (second_ref, base / "var-second-ref", demo2 / "mdm.toml", None)})
    assert killed.pop("ref")[0] == 0
    after_kill = {key: _snapshot(job[0]) for key, job in jobs.items()}
    reruns = _run_all({key: (db, var, config, None) for key, (db, var, config, _cp) in jobs.items()})

    references = {"first_run": _snapshot(first_ref)[1], "changed_data": _snapshot(second_ref)[1]}
    result = {}
    for name in starts:
        outcomes = {}
        for cp in CHECKPOINTS:
            db = jobs[(name, cp)][0]
            outcomes[cp] = Outcome(killed[(name, cp)][0], killed[(name, cp)][1], *after_kill[(name, cp)],
                                   reruns[(name, cp)][0], reruns[(name, cp)][1], _snapshot(db)[1], _runs(db))
        result[name] = Scenario(*before[name], references[name], outcomes)
    return result


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_killed_run_leaves_golden_state_and_rerun_converges(scenarios, scenario, checkpoint):
    sc = scenarios[scenario]
    out = sc.outcomes[checkpoint]
    assert out.killed_rc == -9, f"not killed by SIGKILL: rc {out.killed_rc}\n{out.killed_stderr}"
    if checkpoint == "after_commit":
        # Everything had committed: the killed run's work is the uninterrupted run's work.
        assert out.state_after_kill == sc.reference
    else:
        assert out.counts_after_kill == sc.counts_before
        assert out.state_after_kill == sc.state_before
    assert out.rerun_rc == 0, out.rerun_output
    assert out.state_after_rerun == sc.reference
    # The killed run is on record as interrupted (unless it had already committed).
    killed_run = out.runs[-2]
    if checkpoint == "after_commit":
        assert killed_run == ("succeeded", None)
    else:
        assert killed_run == ("failed", "interrupted")
    assert out.runs[-1] == ("succeeded", None)


def test_scenarios_change_something(scenarios):
    """Guard against a vacuous pass: each reference run did change the golden state."""
    first, changed = scenarios["first_run"], scenarios["changed_data"]
    assert not first.state_before["goldens"] and len(first.reference["goldens"]) > 250
    before, after = changed.state_before, changed.reference
    assert before["links"] != after["links"]
    assert sum(map(len, after["history"].values())) > sum(map(len, before["history"].values()))
    assert {s for s, *_ in after["goldens"].values()} >= {"active"}
