"""``python -m mdm.demo_data --persons N --seed S --out DIR``"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

from .generator import REFERENCE_DATE, generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mdm.demo_data",
                                 description="Write a synthetic Turku population (four city sources + truth).")
    ap.add_argument("--persons", type=int, default=20_000, help="number of persons (default 20000)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    ap.add_argument("--reference-date", type=date.fromisoformat, default=REFERENCE_DATE,
                    help=f"the 'today' of the data, YYYY-MM-DD (default {REFERENCE_DATE.isoformat()})")
    args = ap.parse_args(argv)
    if args.persons < 0:
        ap.error("--persons must be >= 0")
    t0 = time.perf_counter()
    counts = generate(args.out, args.persons, args.seed, reference_date=args.reference_date)
    dt = time.perf_counter() - t0
    print(json.dumps({"out": str(args.out), "persons": args.persons, "seed": args.seed,
                      "records": counts, "total": sum(counts.values()), "seconds": round(dt, 2)},
                     ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
