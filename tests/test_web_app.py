"""The app shell: login/logout with CSRF, cookies, headers, secret key file, ``mdm serve``."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mdm.services import accounts
from stewardship_ui import create_app
from test_web_support import *  # noqa: F401,F403 - fixtures

PASSWORD = "correct horse battery staple"


def _user(store, name="stina", role="steward", password=PASSWORD):
    with store.session() as s:
        accounts.create_user(s, name, password, role)


def _token(html: str) -> str:
    m = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert m, html
    return m.group(1)


def _login(client, username="stina", password=PASSWORD):
    token = _token(client.get("/auth/login").get_data(as_text=True))
    return client.post("/auth/login", data={"csrf_token": token, "username": username, "password": password})


def test_root_redirects_to_review_and_review_needs_login(client):
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/review")
    resp = client.get("/review")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/login")


def test_login_without_csrf_token_is_rejected(client, store):
    _user(store)
    resp = client.post("/auth/login", data={"username": "stina", "password": PASSWORD})
    assert resp.status_code == 400
    assert "mdm_session" not in resp.headers.get("Set-Cookie", "") or "user_id" not in resp.headers.get(
        "Set-Cookie", "")
    assert client.get("/review").status_code == 302  # not logged in


def test_login_review_logout(client, store):
    _user(store)
    resp = _login(client)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/review")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Review queue" in html and "stina" in html
    assert "<script" not in html and "style=" not in html  # CSP: no inline code or styles
    assert 'href="/static/style.css"' in html
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.post("/auth/logout").status_code == 400  # logout is a form with a token, too
    resp = client.post("/auth/logout", data={"csrf_token": _token(html)})
    assert resp.status_code == 302
    assert client.get("/review").status_code == 302


def test_wrong_password_and_disabled_user(client, store):
    _user(store)
    html = _login(client, password="wrong password!").get_data(as_text=True)
    assert "Wrong user name or password" in html
    with store.session() as s:
        accounts.disable_user(s, "stina")
    assert "Wrong user name" in _login(client).get_data(as_text=True)


def test_disabled_user_is_logged_out(client, store):
    _user(store)
    _login(client)
    assert client.get("/review").status_code == 200
    with store.session() as s:
        accounts.disable_user(s, "stina")
    assert client.get("/review").status_code == 302


def test_static_css_is_shipped(client):
    resp = client.get("/static/style.css")
    assert resp.status_code == 200 and "text/css" in resp.headers["Content-Type"]
    assert (Path(__file__).parents[1] / "stewardship_ui" / "static" / "style.css").exists()


def test_production_defaults(store, tmp_path, monkeypatch):
    monkeypatch.delenv("MDM_SECRET_KEY", raising=False)
    monkeypatch.delenv("MDM_ACCESS_LOG_KEY", raising=False)
    monkeypatch.delenv("MDM_DEV", raising=False)
    var = tmp_path / "var"
    app = create_app({"MDM_STORE": store, "VAR_DIR": str(var)})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    key_file = var / "secret_key"
    assert key_file.exists() and (key_file.stat().st_mode & 0o777) == 0o600
    assert ((var / "access_log.key").stat().st_mode & 0o777) == 0o600
    again = create_app({"MDM_STORE": store, "VAR_DIR": str(var)})
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]  # made once, then reused
    monkeypatch.setenv("MDM_SECRET_KEY", "from-env")
    assert create_app({"MDM_STORE": store, "VAR_DIR": str(var)}).config["SECRET_KEY"] == b"from-env"
    monkeypatch.setenv("MDM_DEV", "1")
    assert create_app({"MDM_STORE": store, "VAR_DIR": str(var)}).config["SESSION_COOKIE_SECURE"] is False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


@pytest.mark.slow
def test_mdm_serve_runs_gunicorn(sqlite_store, tmp_path):
    port = _free_port()
    env = {**os.environ, "MDM_DATABASE_URL": sqlite_store.url, "MDM_VAR_DIR": str(tmp_path / "var")}
    mdm = Path(sys.executable).with_name("mdm")
    proc = subprocess.Popen([str(mdm), "serve", "--port", str(port), "--workers", "2"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                opener.open(f"http://127.0.0.1:{port}/", timeout=2)
            except urllib.error.HTTPError as exc:
                resp = exc
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("mdm serve did not answer")
                time.sleep(0.2)
        assert resp.code == 302 and resp.headers["Location"].endswith("/review")
        with pytest.raises(urllib.error.HTTPError) as info:
            opener.open(f"http://127.0.0.1:{port}/api/v1/golden/131052-308T?q=010101-123N", timeout=5)
        assert info.value.code == 400
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Booting worker" in out and '"GET /api/v1/golden/[redacted]"' in out
    assert "131052" not in out and "010101" not in out
