"""Load generators for the API benchmark: ``wrk`` (preferred) or a small asyncio client.

Both open ``connections`` concurrent connections to 127.0.0.1, cycle through a
fixed list of request bodies, run for at most ``seconds`` (the Python client
also stops after ``max_requests``) and report requests, requests/s, p50, p99
and the count of non-2xx answers. gunicorn's sync workers close every
connection after its answer, so each request pays a loopback connect; that is
the same for every endpoint, the hello-world included.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    headers: dict[str, str]
    bodies: list[str]  # JSON bodies to cycle through; empty for a GET


@dataclass
class Result:
    endpoint: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    client: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def find_wrk(install: bool) -> str | None:
    """``wrk`` on the PATH; installed from Debian's archive when allowed and possible."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("installing wrk (Debian package) for the load generator ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    ok = subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True).returncode == 0
    if not ok:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True)
    return shutil.which("wrk")


_LUA = """
local bodies = {%(bodies)s}
local headers = {%(headers)s}
local i = 0
request = function()
  i = i + 1
  local body = nil
  if #bodies > 0 then body = bodies[(i %% #bodies) + 1] end
  return wrk.format("%(method)s", "%(path)s", headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("\\nRESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, " ..
    "\\"p50_us\\": %%d, \\"p99_us\\": %%d, \\"non_2xx\\": %%d, \\"socket_errors\\": %%d}\\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _lua_string(text: str) -> str:
    level = "=" * 3
    assert f"]{level}]" not in text
    return f"[{level}[{text}]{level}]"


def run_wrk(wrk: str, port: int, ep: Endpoint, seconds: float, connections: int) -> Result:
    script = _LUA % {
        "bodies": ", ".join(_lua_string(b) for b in ep.bodies),
        "headers": ", ".join(f'["{k}"] = {_lua_string(v)}' for k, v in ep.headers.items()),
        "method": ep.method, "path": ep.path,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--timeout", "10s",
                              "-s", fh.name, f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True)
    finally:
        os.unlink(fh.name)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    data = json.loads(line[len("RESULT "):])
    return Result(ep.name, data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1000,
                  data["p99_us"] / 1000, data["non_2xx"] + data["socket_errors"], "wrk")


async def _one(port: int, payload: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    data = await reader.read()  # the sync worker closes the connection after the answer
    writer.close()
    return int(data[9:12]) if data.startswith(b"HTTP/1.") else 0


async def _drive(port: int, payloads: Sequence[bytes], seconds: float, connections: int,
                 max_requests: int) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    bad = 0
    counter = iter(range(max_requests))
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal bad
        for n in counter:
            if time.perf_counter() >= deadline:
                return
            t = time.perf_counter()
            status = await _one(port, payloads[n % len(payloads)])
            latencies.append(time.perf_counter() - t)
            bad += not 200 <= status < 300

    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, bad, time.perf_counter() - started


def run_python(port: int, ep: Endpoint, seconds: float, connections: int, max_requests: int = 200_000) -> Result:
    head = "".join(f"{k}: {v}\r\n" for k, v in ep.headers.items())
    payloads = []
    for body in ep.bodies or [""]:
        raw = body.encode()
        length = f"Content-Length: {len(raw)}\r\n" if ep.bodies else ""
        payloads.append(f"{ep.method} {ep.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{head}{length}\r\n"
                        .encode() + raw)
    latencies, bad, elapsed = asyncio.run(_drive(port, payloads, seconds, connections, max_requests))
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else 0.0

    return Result(ep.name, len(latencies), elapsed, pct(50), pct(99), bad, "python-asyncio")


def run(client: str, wrk: str | None, port: int, ep: Endpoint, seconds: float, connections: int) -> Result:
    if client == "wrk" and wrk:
        return run_wrk(wrk, port, ep, seconds, connections)
    return run_python(port, ep, seconds, connections)


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
