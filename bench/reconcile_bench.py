"""Full reconcile against bare Splink on the same records, and a nightly run with 1 % changed.

Default: ``mdm demo-data --persons 400000`` (about 900,000 source records).
Each contender runs in its own process, so wall time and peak RSS are its own.
Goals (issue 5): reconcile within 2x bare Splink's wall time and no more peak
memory; a nightly run with 1 % of records changed within 5 % of the full run.
"""
from __future__ import annotations

import argparse
import csv
import random
import re
import shutil
import tempfile
from pathlib import Path

from matching.evaluate import evaluate

from ._common import demo_data, python, run_child, save, table


def _truth(demo: Path) -> tuple[dict, dict]:  # type: ignore[type-arg]
    person, household = {}, {}
    with open(demo / "truth.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            person[f"{row['source']}|{row['source_id']}"] = row["person_id"]
            household[f"{row['source']}|{row['source_id']}"] = row["household_id"]
    return person, household


def _change_one_percent(demo: Path, seed: int = 7) -> int:
    """Edit 1 % of the rows of every CSV export (a phone or a surname), as a day of use does."""
    rnd = random.Random(seed)
    changed = 0
    for rel, col in (("library/patrons.csv", "smsalertnumber"), ("transit/cards.csv", "phone"),
                     ("school/users.csv", "sms")):
        path = demo / rel
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        fields = list(rows[0])
        for row in rnd.sample(rows, max(1, len(rows) // 100)):
            row[col] = f"040{rnd.randrange(10**6, 10**7)}"
            changed += 1
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
    path = demo / "health" / "patients.ndjson"
    lines = path.read_text(encoding="utf-8").splitlines()
    for i in rnd.sample(range(len(lines)), max(1, len(lines) // 100)):
        edited = re.sub(r'("family"\s*:\s*")', r"\1Uusi", lines[i], count=1)
        changed += edited != lines[i]
        lines[i] = edited
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench reconcile")
    parser.add_argument("--persons", type=int, default=400_000)
    parser.add_argument("--memory-limit", default="10GB",
                        help="DuckDB memory_limit for both contenders (beyond it DuckDB spills to disk)")
    parser.add_argument("--skip-bare", action="store_true",
                        help="leave out bare Splink (for the nightly / full ratio alone; no time / bare ratios)")
    args = parser.parse_args(argv)
    source = demo_data(args.persons)
    person, household = _truth(source)
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="mdm-bench-") as tmp:
        work = Path(tmp)
        demo = work / "demo"
        shutil.copytree(source, demo)
        n_records = len(person)
        # Both contenders get the same DuckDB memory cap.
        toml = demo / "mdm.toml"
        toml.write_text(f'[matching]\nmemory_limit = "{args.memory_limit}"\n\n' + toml.read_text(encoding="utf-8"),
                        encoding="utf-8")

        bare = bare_eval = None
        if not args.skip_bare:
            bare = run_child([python(), "-m", "bench.bare_splink", str(demo), str(work / "bare.csv")],
                             {"MDM_BENCH_MEMORY_LIMIT": args.memory_limit})
            if bare["returncode"] != 0:
                print(bare["output"])
                return 1
            with open(work / "bare.csv", encoding="utf-8") as fh:
                predicted = {r["unique_id"]: r["cluster_id"] for r in csv.DictReader(fh)}
            bare_eval = evaluate(predicted, person, household)

        env = {"MDM_DATABASE_URL": f"sqlite:///{work / 'mdm.sqlite'}", "MDM_VAR_DIR": str(work / "var")}
        mdm = [python(), "-m", "mdm.cli"]
        up = run_child([*mdm, "db", "upgrade"], env)
        assert up["returncode"] == 0, up["output"]
        full = run_child([*mdm, "reconcile", "--config", str(demo / "mdm.toml")], env)
        if full["returncode"] != 0:
            print(full["output"][-3000:])
            return 1
        ev = run_child([*mdm, "evaluate", "--json", "--config", str(demo / "mdm.toml"),
                        "--truth", str(demo / "truth.csv")], env)
        import json

        ours = json.loads(ev["output"][ev["output"].index("{"):])
        changed = _change_one_percent(demo)
        nightly = run_child([*mdm, "reconcile", "--config", str(demo / "mdm.toml")], env)

    def row(name, r, f1=None, hh=None):  # type: ignore[no-untyped-def]
        return {"run": name, "wall s": r["seconds"], "peak RSS MB": r["peak_rss_mb"],
                "time / bare": f"{r['seconds'] / bare['seconds']:.2f}" if bare else "-",
                "memory / bare": f"{r['peak_rss_mb'] / bare['peak_rss_mb']:.2f}" if bare else "-",
                "pairwise F1": f1 if f1 is not None else "", "household false pairs": hh if hh is not None else ""}

    rows = [row("bare Splink (baseline)", bare, bare_eval.f1, bare_eval.household_false_pairs)] if bare else []
    rows += [
        row("mdm reconcile, full", full, ours["f1"], ours["household_false_pairs"]),
        row(f"mdm reconcile, nightly ({changed} records changed)", nightly),
    ]
    print(f"{args.persons} persons, {n_records} source records (SQLite store, DuckDB matching, 2 cores, "
          f"DuckDB memory_limit {args.memory_limit} for both)")
    print(table(rows, list(rows[0])))
    print(f"nightly / full wall time: {nightly['seconds'] / full['seconds']:.3f} (goal <= 0.05)")
    for name, r in (("full", full), ("nightly", nightly)):
        tail = [line for line in r["output"].splitlines() if line.startswith(("run ", "  "))]
        print(f"--- {name} reconcile summary\n" + "\n".join(tail[-8:]))
    results.update(persons=args.persons, records=n_records, rows=rows, ours=ours,
                   bare_eval=bare_eval.as_dict() if bare_eval else None)
    print("saved:", save("reconcile", results))
    return 0
