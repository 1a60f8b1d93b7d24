"""connectors/_http.py against a real local HTTP server, plus that server for the API connector tests.

``RecordedServer`` is a ThreadingHTTPServer on 127.0.0.1 (port 0) that serves
recorded responses per path, optionally checks basic or bearer auth, and
records every request. No HTTP client is patched anywhere.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors import ConnectorError
from connectors._http import HttpClient
from connectors.koha_api import KohaApiConnector


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # bytes/str sent as is, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to provoke client timeouts)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Route = Callable[[Seen], Reply] | list[Reply]


class RecordedServer:
    """Serves ``routes[path]``: a list of replies used in order (the last one repeats) or a function."""

    def __init__(self, basic: tuple[str, str] | None = None, bearer: str | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.basic, self.bearer = basic, bearer
        self.open_paths: set[str] = set()  # paths that need no auth (the token endpoint)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()),
                            self.rfile.read(length) if length else b"")
                owner.requests.append(seen)
                reply = owner._reply(seen)
                try:
                    if reply.delay:
                        time.sleep(reply.delay)
                    body = reply.body
                    if not isinstance(body, (bytes, str)):
                        body = json.dumps(body)
                    data = body.encode("utf-8") if isinstance(body, str) else body
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    def _authorised(self, seen: Seen) -> bool:
        if seen.path in self.open_paths:
            return True
        auth = seen.headers.get("Authorization", "")
        if self.basic:
            expected = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            return auth == f"Basic {expected}"
        if self.bearer:
            return auth == f"Bearer {self.bearer}"
        return True

    def _reply(self, seen: Seen) -> Reply:
        if not self._authorised(seen):
            return Reply(401, {"error": "unauthorised"})
        route = self.routes.get(seen.path)
        if route is None:
            return Reply(404, {"error": "not found"})
        if callable(route):
            return route(seen)
        return route.pop(0) if len(route) > 1 else route[0]

    def hits(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def __enter__(self) -> "RecordedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must not go through a proxy configured in the environment."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def server() -> Iterator[RecordedServer]:
    with RecordedServer() as srv:
        yield srv


FAST = {"retries": 2, "timeout": 0.3, "backoff": 0.01}


def client(tmp_path: Path, **options: Any) -> HttpClient:
    return HttpClient(KohaApiConnector("lib", {"url": "http://x", **FAST, **options}, tmp_path))


def test_get_json_returns_body_and_headers(server, tmp_path):
    server.routes["/a"] = [Reply(200, [1, 2], {"X-Total-Count": "2"})]
    data, headers = client(tmp_path).get_json(server.url + "/a", {"x": "ä y"})
    assert data == [1, 2] and headers["X-Total-Count"] == "2"
    assert server.requests[0].query == {"x": ["ä y"]}


def test_retries_on_5xx_then_succeeds(server, tmp_path):
    server.routes["/a"] = [Reply(500), Reply(503), Reply(200, {"ok": True})]
    assert client(tmp_path).get_json(server.url + "/a")[0] == {"ok": True}
    assert len(server.hits("/a")) == 3


def test_persistent_5xx_is_a_connector_error(server, tmp_path):
    server.routes["/a"] = [Reply(502)]
    with pytest.raises(ConnectorError, match=r"failed after 3 attempts: HTTP 502"):
        client(tmp_path).get_json(server.url + "/a")
    assert len(server.hits("/a")) == 3


def test_4xx_fails_at_once(server, tmp_path):
    with pytest.raises(ConnectorError, match="HTTP 404"):
        client(tmp_path).get_json(server.url + "/missing")
    assert len(server.requests) == 1


def test_timeout_is_retried(server, tmp_path):
    server.routes["/slow"] = [Reply(200, {"late": True}, delay=1.0), Reply(200, {"ok": 1})]
    started = time.monotonic()
    assert client(tmp_path).get_json(server.url + "/slow")[0] == {"ok": 1}
    assert time.monotonic() - started < 1.0


def test_persistent_timeout_message(server, tmp_path):
    server.routes["/slow"] = [Reply(200, {}, delay=0.6)]
    with pytest.raises(ConnectorError, match="timed out"):
        client(tmp_path, retries=1, timeout=0.2).get_json(server.url + "/slow")


def test_connection_refused_is_retried_then_fails(tmp_path):
    with RecordedServer() as srv:
        url = srv.url
    with pytest.raises(ConnectorError, match="connection failed"):
        client(tmp_path).get_json(url + "/a")


def test_invalid_json_is_reported(server, tmp_path):
    server.routes["/a"] = [Reply(200, b"<html>")]
    with pytest.raises(ConnectorError, match="invalid JSON"):
        client(tmp_path).get_json(server.url + "/a")


def test_basic_auth_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("T_USER", "koha")
    monkeypatch.setenv("T_PASS", "sala:sana")
    with RecordedServer(basic=("koha", "sala:sana")) as srv:
        srv.routes["/a"] = [Reply(200, {"ok": 1})]
        assert client(tmp_path, username_env="T_USER", password_env="T_PASS").get_json(srv.url + "/a")[0]
        with pytest.raises(ConnectorError, match="HTTP 401"):
            client(tmp_path).get_json(srv.url + "/a")


def test_missing_env_var_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("T_NOPE", raising=False)
    with pytest.raises(ConnectorError, match="T_NOPE"):
        client(tmp_path, username_env="T_NOPE")


def test_literal_secrets_are_refused(tmp_path):
    with pytest.raises(ConnectorError, match="password_env"):
        KohaApiConnector("lib", {"url": "http://x", "password": "hunter2"}, tmp_path)
    with pytest.raises(ConnectorError, match="must not contain a password"):
        KohaApiConnector("lib", {"url": "http://u:p@x"}, tmp_path)


def test_oauth_client_credentials_cached_and_renewed(tmp_path, monkeypatch):
    monkeypatch.setenv("T_CID", "mdm")
    monkeypatch.setenv("T_SECRET", "s3cret")
    tokens = iter(["tok-1", "tok-2"])
    with RecordedServer(bearer="tok-1") as srv:
        srv.open_paths.add("/token")
        srv.routes["/token"] = lambda seen: Reply(200, {"access_token": next(tokens), "expires_in": 3600})
        srv.routes["/a"] = [Reply(200, {"ok": 1})]
        http = client(tmp_path, token_url=srv.url + "/token", client_id_env="T_CID", client_secret_env="T_SECRET")
        http.get_json(srv.url + "/a")
        http.get_json(srv.url + "/a")
        token_calls = srv.hits("/token")
        assert len(token_calls) == 1  # cached
        assert parse_qs(token_calls[0].body.decode()) == {"grant_type": ["client_credentials"]}
        assert token_calls[0].headers["Authorization"] == "Basic " + base64.b64encode(b"mdm:s3cret").decode()
        srv.bearer = "tok-2"  # the server revoked tok-1: one 401, a new token, success
        assert http.get_json(srv.url + "/a")[0] == {"ok": 1}
        assert len(srv.hits("/token")) == 2
