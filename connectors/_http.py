"""A small JSON-over-HTTP client for the API connectors, standard library only.

* Retries with exponential back-off (``backoff * 2**attempt`` seconds) on 5xx,
  429, connection errors and timeouts; other 4xx fail at once (retrying a 404
  or a wrong password does not help). Options: ``retries`` (default 4 retries,
  i.e. 5 attempts), ``timeout`` (seconds per attempt, default 30), ``backoff``
  (default 0.5).
* Authentication, credentials only from environment variables named in the
  options: basic auth (``username_env``, ``password_env``) or OAuth2 client
  credentials (``token_url``, ``client_id_env``, ``client_secret_env``, optional
  ``scope`` and ``client_auth = "basic" | "body"``). The token is cached until
  shortly before it expires and fetched again once if the API answers 401.
* Proxies come from the usual environment variables (urllib's default).
"""
from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .base import Connector

_RETRY_STATUS = {429} | set(range(500, 600))
_TOKEN_MARGIN = 30.0  # seconds: renew a token this long before it expires


def _where(url: str) -> str:
    """The URL without its query string, for messages (queries may hold search values)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class HttpClient:
    """GET JSON with retries and authentication for one connector."""

    def __init__(self, connector: "Connector", accept: str = "application/json") -> None:
        self.connector = connector
        self.retries: int = connector.number_option("retries", 4, integer=True)
        self.timeout: float = connector.number_option("timeout", 30.0)
        self.backoff: float = connector.number_option("backoff", 0.5)
        self.accept = accept
        opts = connector.options
        self._basic: str | None = None
        self._token: str | None = None
        self._token_expires = 0.0
        if opts.get("username_env"):
            user = connector.env_option("username_env") or ""
            password = connector.env_option("password_env") or ""
            self._basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        elif opts.get("token_url"):
            self._client_id = connector.env_option("client_id_env") or ""
            self._client_secret = connector.env_option("client_secret_env") or ""
            if not self._client_id:
                raise connector.error("OAuth (token_url) needs client_id_env and client_secret_env")

    # -- public ---------------------------------------------------------------
    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> tuple[Any, Mapping[str, str]]:
        """GET ``url`` (plus query ``params``) and return (decoded JSON, response headers)."""
        if params:
            sep = "&" if urllib.parse.urlsplit(url).query else "?"
            url = url + sep + urllib.parse.urlencode({k: str(v) for k, v in params.items()})
        refreshed = False
        while True:
            headers = {"Accept": self.accept, "User-Agent": "pat-mdm-connector"}
            auth = self._authorization()
            if auth:
                headers["Authorization"] = auth
            status, resp_headers, body = self._send(urllib.request.Request(url, headers=headers))
            if status == 401 and self._token and not refreshed:
                # Why: a cached token can be revoked before its announced expiry; try a fresh one once.
                self._token, refreshed = None, True
                continue
            if status >= 400:
                raise self.connector.error(f"GET {_where(url)} failed: HTTP {status}")
            try:
                return json.loads(body.decode("utf-8")), resp_headers
            except (UnicodeDecodeError, ValueError) as exc:
                raise self.connector.error(f"GET {_where(url)} returned invalid JSON: {exc}") from None

    # -- internals ------------------------------------------------------------
    def _authorization(self) -> str | None:
        if self._basic:
            return self._basic
        if self.connector.options.get("token_url"):
            if self._token is None or time.monotonic() >= self._token_expires:
                self._fetch_token()
            return f"Bearer {self._token}"
        return None

    def _fetch_token(self) -> None:
        opts = self.connector.options
        form = {"grant_type": "client_credentials"}
        if opts.get("scope"):
            form["scope"] = str(opts["scope"])
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if opts.get("client_auth", "basic") == "body":
            form.update(client_id=self._client_id, client_secret=self._client_secret)
        else:
            pair = f"{urllib.parse.quote(self._client_id)}:{urllib.parse.quote(self._client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        url = str(opts["token_url"])
        request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), headers=headers,
                                         method="POST")
        status, _, body = self._send(request)
        if status >= 400:
            raise self.connector.error(f"OAuth token request to {_where(url)} failed: HTTP {status}")
        try:
            data = json.loads(body)
            token = str(data["access_token"])
            lifetime = float(data.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise self.connector.error(
                f"OAuth token response from {_where(url)} has no access_token") from None
        self._token = token
        self._token_expires = time.monotonic() + max(lifetime - _TOKEN_MARGIN, lifetime / 2)

    def _send(self, request: urllib.request.Request) -> tuple[int, Mapping[str, str], bytes]:
        """Send with retries; (status, headers, body) of the final answer (2xx or a non-retried 4xx)."""
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    return resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as exc:
                body = exc.read() if exc.fp else b""
                exc.close()
                if exc.code not in _RETRY_STATUS:
                    return exc.code, exc.headers, body
                last = f"HTTP {exc.code}"
            except urllib.error.URLError as exc:
                reason = exc.reason
                last = "timed out" if isinstance(reason, TimeoutError) else f"connection failed ({reason})"
            except TimeoutError:
                last = "timed out"
            except (ConnectionError, http.client.HTTPException) as exc:
                last = f"connection failed ({exc.__class__.__name__})"
        raise self.connector.error(
            f"{request.get_method()} {_where(request.full_url)} failed after {self.retries + 1} attempts: "
            f"{last}")
