"""Pull throughput per connector on the demo data (default 100,000 persons).

Baseline, measured in the same run: the connector alone reading and parsing the
export (no standardisation, no store). The ratio says what standardising and
storing cost on top of reading the file.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from connectors import make_connector
from mdm._typing import SourceRecordIn
from mdm.config import load_config
from mdm.services.pull import pull_source
from mdm.store import Store

from ._common import demo_data, save, table


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pull")
    parser.add_argument("--persons", type=int, default=100_000)
    args = parser.parse_args(argv)
    demo = demo_data(args.persons)
    config = load_config(demo / "mdm.toml")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        store.upgrade()
        for source in config.sources:
            t = time.monotonic()
            conn = make_connector(source["name"], source, config.base_dir)
            n = sum(1 for item in conn.read(None) if isinstance(item, SourceRecordIn))
            read_s = time.monotonic() - t
            first = pull_source(store, config, source)
            again = pull_source(store, config, source)
            rows.append({
                "connector": source["connector"], "records": n,
                "read-only rec/s (baseline)": round(n / read_s),
                "first pull rec/s": round(first.read / first.seconds),
                "ratio first/baseline": f"{(first.read / first.seconds) / (n / read_s):.2f}",
                "unchanged pull rec/s": round(again.read / again.seconds),
                "ratio unchanged/baseline": f"{(again.read / again.seconds) / (n / read_s):.2f}",
            })
        store.dispose()
    print(f"pull into SQLite, {args.persons} persons (one process, 2-core machine)")
    print(table(rows, list(rows[0])))
    print("saved:", save("pull", {"persons": args.persons, "rows": rows}))
    return 0
