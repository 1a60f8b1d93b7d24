"""Shared helpers: cached demo data, child processes with their own peak memory, tables."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

CACHE = Path(os.environ.get("MDM_BENCH_CACHE", Path(__file__).resolve().parent / ".cache"))
RESULTS = Path(__file__).resolve().parent / "results"


def demo_data(persons: int, seed: int = 1) -> Path:
    """The demo export for ``persons`` (generated once, then reused)."""
    from mdm.demo_data import generate

    out = CACHE / f"demo-{persons}-{seed}"
    if not (out / "manifest.json").exists():
        print(f"generating demo data: {persons} persons -> {out}", flush=True)
        generate(out, persons=persons, seed=seed)
    return out


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants now, in MB (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    parents[int(entry.name)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    pages = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                pages += int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_child(args: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command; its wall time and its peak memory.

    ``peak_rss_mb`` is the larger of the child's own peak RSS (``wait4``: exact,
    but only the largest single process of its tree) and the peak of the whole
    process tree's RSS summed (sampled every 0.2 s: a run's worker processes
    count too); both are also given apart.
    """
    started = time.monotonic()
    proc = subprocess.Popen(list(args), env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tree_peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            tree_peak[0] = max(tree_peak[0], _tree_rss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = proc.stdout.read()  # until the child closes it, i.e. exits
    done.set()
    sampler.join()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    own = usage.ru_maxrss / 1024
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(max(own, tree_peak[0]), 1),
            "own_peak_rss_mb": round(own, 1), "tree_peak_rss_mb": round(tree_peak[0], 1),
            "returncode": proc.returncode, "output": out}


def python() -> str:
    return sys.executable


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    line = " | ".join(c.ljust(widths[c]) for c in columns)
    sep = "-+-".join("-" * widths[c] for c in columns)
    body = "\n".join(" | ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows)
    return f"{line}\n{sep}\n{body}"


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return path
