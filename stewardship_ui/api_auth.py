"""API-key authentication and per-client rate limiting for the REST API.

Keys are checked without a database query on the hot path: the clients found
for a key prefix are cached in the process for ``CLIENT_CACHE_SECONDS``
(default 5). A revoked key therefore stops working within that many seconds,
in every gunicorn worker (each has its own cache).

Rate limiting is an in-process token bucket per client, refilled at
``rate_limit_per_minute / 60`` tokens a second with room for a minute's worth.
With N gunicorn workers each worker has its own buckets, so a client can get up
to N times its limit in the worst case; the limit protects the service from a
runaway client, it is not an accounting quota.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from flask import request

from mdm.services.accounts import (
    KEY_MARKER,
    KEY_PREFIX_LENGTH,
    ClientInfo,
    clients_by_prefix,
    match_key,
)

from .db import get_db
from .errors import ApiError

Candidates = list[tuple[str, ClientInfo]]
MAX_CACHED_PREFIXES = 10_000


class ClientCache:
    """Clients by key prefix, each entry kept for ``ttl`` seconds (misses too)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Candidates]] = {}
        self._lock = threading.Lock()

    def candidates(self, prefix: str, load: Callable[[], Candidates]) -> Candidates:
        now = time.monotonic()
        hit = self._entries.get(prefix)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = load()
        with self._lock:
            if len(self._entries) >= MAX_CACHED_PREFIXES:
                # Random bad keys must not grow the cache without bound.
                self._entries.clear()
            self._entries[prefix] = (now + self.ttl, found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class RateLimiter:
    """Token buckets keyed by client id."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: ClientInfo) -> float:
        """Take one token; 0.0 if allowed, else the seconds until the next token."""
        capacity = float(client.rate_limit_per_minute)
        rate = capacity / 60.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(client.id, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[client.id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client.id] = (tokens, now)
            return (1.0 - tokens) / rate


def bearer_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


def authenticate(cache: ClientCache) -> ClientInfo:
    """The client whose key the request carries; 401 otherwise."""
    key = bearer_key()
    challenge = {"WWW-Authenticate": 'Bearer realm="mdm"'}
    if key is None or not key.startswith(KEY_MARKER) or len(key) <= KEY_PREFIX_LENGTH:
        raise ApiError(401, headers=challenge)
    prefix = key[:KEY_PREFIX_LENGTH]
    client = match_key(key, cache.candidates(prefix, lambda: clients_by_prefix(get_db(), prefix)))
    if client is None:
        raise ApiError(401, "the API key is not valid or was revoked", headers=challenge)
    return client


def check_rate(limiter: RateLimiter, client: ClientInfo) -> None:
    wait = limiter.take(client)
    if wait > 0:
        raise ApiError(429, headers={"Retry-After": str(max(1, int(wait + 0.999)))})
