"""Run benchmarks by name: ``python -m bench pull reconcile api`` (no name: all of them).

Arguments after ``--`` go to every benchmark named (e.g. ``-- --persons 20000``).
"""
from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "pull": "bench.pull_bench",
    "reconcile": "bench.reconcile_bench",
    "api": "bench.api_bench",
}


def main(argv: list[str]) -> int:
    names, extra = argv, []
    if "--" in argv:
        i = argv.index("--")
        names, extra = argv[:i], argv[i + 1:]
    if any(n in ("-h", "--help") for n in names):
        print(__doc__)
        print("benchmarks:", ", ".join(BENCHMARKS))
        return 0
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    status = 0
    for name in names or list(BENCHMARKS):
        module = importlib.import_module(BENCHMARKS[name])
        print(f"=== {name} ===", flush=True)
        status |= int(module.main(extra) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
