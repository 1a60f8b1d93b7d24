"""REST API under gunicorn: lookup and match-on-entry (resolve) against a hello-world baseline.

``python -m bench api -- [--golden N] [--seconds S] [--connections C] [--client auto|wrk|python]``

Builds (once per N, then reused) a PostgreSQL store of N golden records in its
own schema ``bench_api_N`` of ``MDM_BENCH_DATABASE_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), synthesised by
:mod:`bench.api_store` with bulk COPY - not a real reconcile - plus the model
of a reconciled demo store. Then starts ``mdm serve`` (gunicorn, 2 workers) on
127.0.0.1 and drives it from a separate load-generator process (``wrk``,
installed from Debian when missing and possible; else an asyncio client):
``GET /api/v1/ping`` (no key, no database: the hello-world), ``POST /lookup``
by identifiers of sampled persons (HETU, phone, e-mail, cards) and ``POST
/resolve`` of new records of sampled persons (other wording, a typo, moved
now and then) and of strangers (1 in 5).

Goals (issue): lookup >= 50 % of hello-world requests/s, lookup p99 <= 10 ms,
resolve p50 <= 20 ms and p99 <= 50 ms, on 1,000,000 golden records.

Then (unless ``--no-floor``) the same app under the same server setup with
two bench-only endpoints (:mod:`bench.api_floor`), each against that server's
own ping: one database round trip (``SELECT 1``), and the least a lookup can
do - floors that say whether the ratio goal is within reach of the
architecture on the machine at hand.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from . import api_load, api_store
from ._common import CACHE, demo_data, save, table

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
MODEL_PERSONS = 2000
SAMPLES_VERSION = "v2"  # bump when the request bodies change
GOALS = {"lookup_vs_ping": 0.5, "lookup_p99_ms": 10.0, "resolve_p50_ms": 20.0, "resolve_p99_ms": 50.0}


def _urls(base: str, schema: str) -> tuple[str, str]:
    """(SQLAlchemy URL with the schema as search_path, libpq conninfo for psycopg)."""
    url = make_url(base).set(drivername="postgresql+psycopg").update_query_dict({"options": f"-csearch_path={schema}"})
    plain = make_url(base).set(drivername="postgresql")
    return url.render_as_string(hide_password=False), plain.render_as_string(hide_password=False)


def model_document() -> dict[str, Any]:
    """The active model of a reconciled demo store (trained once, cached)."""
    from mdm.config import load_config
    from mdm.services.matching import active_model
    from mdm.services.reconcile import reconcile
    from mdm.store import Store

    demo = demo_data(MODEL_PERSONS)
    db = CACHE / f"api-model-{MODEL_PERSONS}.sqlite"
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    with store.session() as s:
        model = active_model(s)
    if model is None:
        print(f"training the model on {MODEL_PERSONS} demo persons ...", flush=True)
        cfg = load_config(demo / "mdm.toml")
        cfg.var_dir = CACHE / "api-model-var"
        reconcile(store, cfg)
        with store.session() as s:
            model = active_model(s)
    store.dispose()
    assert model is not None
    return model.to_document()


#: Bumped when the synthesised store changes (2: guardian relations), so an older one is built again.
STORE_FORMAT = 2


def _schema_ready(admin: Any, schema: str, golden: int) -> bool:
    with admin.connect() as conn:
        comment = conn.execute(text("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace "
                                    "WHERE nspname = :s"), {"s": schema}).scalar()
    return comment == f"pat-mdm api bench: {golden} golden records, complete, format {STORE_FORMAT}"


def ensure_store(base: str, golden: int, rebuild: bool) -> tuple[str, Path]:
    """The bench schema's URL and the request samples file; builds both when missing."""
    from mdm.store import Store

    schema = f"bench_api_{golden}"
    url, conninfo = _urls(base, schema)
    samples = CACHE / f"api-samples-{golden}-{SAMPLES_VERSION}.json"
    admin = create_engine(make_url(base).set(drivername="postgresql+psycopg"))
    try:
        if not rebuild and _schema_ready(admin, schema, golden):
            print(f"reusing the store in schema {schema} (--rebuild to make it again)", flush=True)
            # A migration added since the build must not stop `mdm serve`; upgrading is a no-op otherwise.
            store = Store(url)
            store.upgrade()
            store.dispose()
            if not samples.exists():
                print("replaying the population for request samples ...", flush=True)
                samples.write_text(json.dumps(_requests(*api_store.sample(golden), golden), ensure_ascii=False),
                                   encoding="utf-8")
            return url, samples
        doc = model_document()
        print(f"synthesising {golden:,} golden records into schema {schema} (bulk COPY, not a reconcile) ...",
              flush=True)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        store = Store(url)
        store.upgrade()
        store.dispose()
        pop, found = api_store.load(conninfo, schema, golden, doc, progress=lambda m: print(m, flush=True))
        samples.parent.mkdir(parents=True, exist_ok=True)
        samples.write_text(json.dumps(_requests(pop, found, golden), ensure_ascii=False), encoding="utf-8")
        with admin.begin() as conn:
            conn.execute(text(f"COMMENT ON SCHEMA \"{schema}\" IS "
                              f"'pat-mdm api bench: {golden} golden records, complete, format {STORE_FORMAT}'"))
        return url, samples
    finally:
        admin.dispose()


def _canonical(rec: Any, source_id: str) -> dict[str, Any]:
    return {"source_id": source_id,
            "names": [{"given": n.given, "family": n.family} for n in rec.names],
            "birth_date": rec.birth_date, "sex": rec.sex,
            "identifiers": [{"type": i.type, "value": i.value} for i in rec.identifiers
                            if i.type in ("phone", "email", "hetu")],
            "addresses": [{"street": a.street, "postal_code": a.postal_code, "city": a.city} for a in rec.addresses]}


def _requests(pop: Any, found: list[dict[str, Any]], golden: int) -> dict[str, Any]:
    """Lookup and resolve bodies from the sampled persons, and strangers (one resolve in five)."""
    rnd = random.Random(11)
    lookups, resolves = [], []
    for n, item in enumerate(found):
        for type_, value in item["identifiers"][:3]:
            lookups.append({"type": type_, "value": value})
        rec = item["entry"][0]
        if rnd.random() < 0.2 and rec.addresses:
            rec.addresses[0].street = "Muuttokatu " + str(rnd.randrange(1, 90))  # moved
        resolves.append({"record": _canonical(rec, f"entry-{n}")})
    for n, rec in enumerate(api_store.strangers(pop, max(1, len(resolves) // 4))):
        resolves.append({"record": _canonical(rec, f"stranger-{n}")})
    rnd.shuffle(lookups)
    rnd.shuffle(resolves)
    return {"golden": golden, "lookup": lookups, "resolve": resolves}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("mdm serve exited; see its log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/ping", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("mdm serve did not come up")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of processes (Linux /proc; 0 for ones gone or elsewhere)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (/proc/stat: everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU of this process and its finished children: the load generator (wrk, or the asyncio client)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _pids(*args: str) -> list[int]:
    out = subprocess.run(["pgrep", *args], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _api_key(url: str) -> str:
    from mdm.services import accounts
    from mdm.store import Store

    store = Store(url)
    try:
        with store.session() as s:
            return accounts.create_client(s, f"bench-{int(time.time() * 1000)}", accounts.parse_scopes("all"),
                                          rate_limit_per_minute=100_000_000)
    finally:
        store.dispose()


def _serve_and_measure(command: list[str], endpoints: list[api_load.Endpoint], env: dict[str, str], run_dir: Path,
                       log_path: Path, args: Any, client: str, wrk: str | None,
                       ) -> tuple[list[api_load.Result], dict[str, tuple[float, float, float]]]:
    """Start ``command --host --port --workers`` (the production server setup) and measure each endpoint on it."""
    port = _free_port()
    results, cpu = [], {}
    with open(log_path, "w") as log:
        server = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port), "--workers",
                                   str(args.workers)], cwd=run_dir, env={**env, "PYTHONPATH": _repo_path(env)},
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_up(port, server)
            for ep in endpoints:
                print(f"{ep.name}: {args.warmup:.0f} s warm-up, {args.seconds:.0f} s measured, "
                      f"{args.connections} connections ({client}) ...", flush=True)
                api_load.run(client, wrk, port, ep, args.warmup, args.connections)
                # Where the time goes: CPU of the gunicorn workers and of every PostgreSQL
                # process (the server's, whoever else uses it) per request answered.
                # "other": CPU busy on the machine beyond workers, database and load generator
                # (another job running) as a share of all CPUs; it makes req/s incomparable.
                workers, pg = _pids("-P", str(server.pid)), _pids("-u", "postgres")
                before = (_cpu_seconds(workers), _cpu_seconds(pg), _machine_busy_seconds(),
                          _own_cpu_seconds(), time.monotonic())
                results.append(api_load.run(client, wrk, port, ep, args.seconds, args.connections))
                n = max(1, results[-1].requests)
                app_s, db_s = _cpu_seconds(workers) - before[0], _cpu_seconds(pg) - before[1]
                load_s = _own_cpu_seconds() - before[3]
                other = (_machine_busy_seconds() - before[2] - app_s - db_s - load_s) / (
                    (time.monotonic() - before[4]) * (os.cpu_count() or 1))
                cpu[ep.name] = (app_s / n * 1000, db_s / n * 1000, max(0.0, other))
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    return results, cpu


def _repo_path(env: dict[str, str]) -> str:
    # `python -m bench.api_floor` runs in the run folder: the checkout holding bench/ goes on the path.
    root = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join([root, env["PYTHONPATH"]]) if env.get("PYTHONPATH") else root


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench api --")
    parser.add_argument("--golden", type=int, default=1_000_000, help="golden records in the store")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds per endpoint first")
    parser.add_argument("--connections", type=int, default=2, help="concurrent connections (default: one per worker)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--rebuild", action="store_true", help="synthesise the store again")
    parser.add_argument("--build-only", action="store_true", help="make (or check) the store, measure nothing")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip the floor endpoints (bench/api_floor.py: what any lookup design pays)")
    args = parser.parse_args(argv)
    base = os.environ.get("MDM_BENCH_DATABASE_URL", DEFAULT_URL)
    url, samples_file = ensure_store(base, args.golden, args.rebuild)
    if args.build_only:
        return 0
    samples = json.loads(samples_file.read_text(encoding="utf-8"))
    wrk = api_load.find_wrk(install=args.client != "python") if args.client != "python" else None
    client = "wrk" if wrk else "python"
    if args.client == "wrk" and not wrk:
        print("wrk is not available; using the asyncio client", flush=True)
    key = _api_key(url)
    auth = {"Authorization": f"Bearer {key}", "X-Purpose": "benchmark", "Content-Type": "application/json"}
    endpoints = [
        api_load.Endpoint("ping (hello-world)", "GET", "/api/v1/ping", {}, []),
        api_load.Endpoint("lookup", "POST", "/api/v1/lookup", auth, [api_load.as_json(b) for b in samples["lookup"]]),
        api_load.Endpoint("resolve", "POST", "/api/v1/resolve", auth,
                          [api_load.as_json(b) for b in samples["resolve"]]),
    ]
    run_dir = CACHE / "api-run"
    run_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MDM_DATABASE_URL": url, "MDM_VAR_DIR": str(run_dir / "var"),
           "MDM_SECRET_KEY": "bench-secret", "MDM_ACCESS_LOG_KEY": "bench-access-log-key"}
    mdm = shutil.which("mdm", path=str(Path(sys.executable).parent)) or "mdm"
    log_path = run_dir / "serve.log"
    load_before = os.getloadavg()
    results, cpu = _serve_and_measure([mdm, "serve"], endpoints, env, run_dir, log_path, args, client, wrk)
    floors: list[api_load.Result] = []
    if not args.no_floor:
        floor_eps = [
            api_load.Endpoint("floor: ping", "GET", "/api/v1/ping", {}, []),
            api_load.Endpoint("floor: ping + SELECT 1", "GET", "/bench-floor/select1", {}, []),
            api_load.Endpoint("floor: least lookup", "POST", "/bench-floor/lookup", auth,
                              [api_load.as_json(b) for b in samples["lookup"]]),
        ]
        floors, floor_cpu = _serve_and_measure([sys.executable, "-m", "bench.api_floor"], floor_eps, env, run_dir,
                                               run_dir / "serve-floor.log", args, client, wrk)
        cpu.update(floor_cpu)
    by = {r.endpoint.split()[0]: r for r in results}
    ratio = by["lookup"].rps / by["ping"].rps if by["ping"].rps else 0.0
    floor_ping = floors[0].rps if floors else 0.0

    def row(r: api_load.Result, ping_rps: float) -> dict[str, Any]:
        return {"endpoint": r.endpoint, "requests": r.requests, "req/s": f"{r.rps:,.0f}",
                "of ping": f"{r.rps / ping_rps:.0%}" if ping_rps else "-", "p50 ms": f"{r.p50_ms:.2f}",
                "p99 ms": f"{r.p99_ms:.2f}", "non-2xx": r.non_2xx, "app CPU ms/req": f"{cpu[r.endpoint][0]:.2f}",
                "db CPU ms/req": f"{cpu[r.endpoint][1]:.2f}", "other CPU": f"{cpu[r.endpoint][2]:.0%}"}

    rows = [row(r, by["ping"].rps) for r in results] + [row(r, floor_ping) for r in floors]
    checks = {
        "lookup req/s >= 50% of hello-world": (ratio >= GOALS["lookup_vs_ping"], f"{ratio:.0%}"),
        "lookup p99 <= 10 ms": (by["lookup"].p99_ms <= GOALS["lookup_p99_ms"], f"{by['lookup'].p99_ms:.2f} ms"),
        "resolve p50 <= 20 ms": (by["resolve"].p50_ms <= GOALS["resolve_p50_ms"], f"{by['resolve'].p50_ms:.2f} ms"),
        "resolve p99 <= 50 ms": (by["resolve"].p99_ms <= GOALS["resolve_p99_ms"], f"{by['resolve'].p99_ms:.2f} ms"),
    }
    print()
    print(f"store: {args.golden:,} golden records, synthesised with bulk COPY (not a real reconcile); "
          f"gunicorn {args.workers} sync workers; client {client}, {args.connections} connections, "
          f"{args.seconds:.0f} s per endpoint; {os.cpu_count()} CPUs, load average before {load_before[0]:.2f}")
    print(table(rows, ["endpoint", "requests", "req/s", "of ping", "p50 ms", "p99 ms", "non-2xx", "app CPU ms/req",
                       "db CPU ms/req", "other CPU"]))
    print("app/db CPU: gunicorn workers' and all PostgreSQL processes' CPU per request; other CPU: the "
          "machine's CPU busy with anything else (another job) during the run, share of all CPUs")
    if floors:
        print("floor rows: the same app and server setup with bench/api_floor.py's endpoints (of ping: of its own "
              "ping) - one database round trip, and the least a lookup can do (no access-log row, no identifiers, "
              "sources or relations); what any lookup design on this architecture and machine pays at least")
    print(f"lookup / hello-world requests/s: {ratio:.0%}")
    for name, (ok, value) in checks.items():
        print(f"  {'met    ' if ok else 'NOT MET'}  {name}: {value}")
    path = save("api", {"golden": args.golden, "client": client, "connections": args.connections,
                        "workers": args.workers, "seconds": args.seconds, "cpus": os.cpu_count(),
                        "load_before": load_before, "machine": platform.platform(),
                        "results": [{**r.__dict__, "rps": r.rps, "app_cpu_ms": cpu[r.endpoint][0],
                                     "db_cpu_ms": cpu[r.endpoint][1], "other_cpu_share": cpu[r.endpoint][2]}
                                    for r in results + floors], "lookup_vs_ping": ratio,
                        "floors_vs_floor_ping": {r.endpoint: r.rps / floor_ping for r in floors[1:]} if floor_ping
                        else {},
                        "goals_met": {k: v[0] for k, v in checks.items()}})
    print(f"saved {path}; server log {log_path}")
    return 0
