"""Shared helpers: cached demo data, child processes with their own peak memory, tables."""
from __future__ import annotations

import json
import os
import subprocess
import sys
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


def run_child(args: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command; its wall time and its own peak RSS (from wait4, not the parent's)."""
    started = time.monotonic()
    proc = subprocess.Popen(list(args), env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()  # until the child closes it, i.e. exits
    # wait4 gives this child's own resource usage (RUSAGE_CHILDREN would mix all children).
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
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
