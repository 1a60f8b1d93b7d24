"""Shared helpers of the steward UI tests (test_ui_*.py, test_browser_*.py); no tests of its own.

* ``demo_template``: a small demo population (``mdm.demo_data``, 200 persons)
  reconciled once per session by the real ``reconcile``; ``copy_demo`` gives a
  module its own copy (SQLite file, data and var folder), so tests that write
  never see each other's decisions.
* ``LiveServer``: the app under werkzeug's real server, in a thread, on
  127.0.0.1 and a free port.
* ``browser_unavailable``: why headless Chromium cannot run here (None if it can).
* ``login``/``token``/``make_user``: the Flask test client's side of the login form.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from mdm.config import Config, load_config
from mdm.demo_data import generate
from mdm.services import accounts
from mdm.services.reconcile import reconcile
from mdm.store import Store
from stewardship_ui import create_app

PASSWORD = "correct horse battery staple"
DEMO_PERSONS = 200
DEMO_SEED = 20240607
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def cheap_hashes(mp: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: the UI tests log in many times; test_accounts.py covers the real ones."""
    from argon2 import PasswordHasher

    mp.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(autouse=True)
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashes(monkeypatch)


def make_user(store: Store, name: str, role: str, password: str = PASSWORD) -> None:
    with store.session() as s:
        accounts.create_user(s, name, password, role)


def token(html: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(client: FlaskClient, name: str, password: str = PASSWORD) -> None:
    html = client.get("/auth/login").get_data(as_text=True)
    resp = client.post("/auth/login", data={"csrf_token": token(html), "username": name, "password": password})
    assert resp.status_code == 302, resp.get_data(as_text=True)


@dataclass
class Demo:
    """A reconciled demo store and the configuration to reconcile it again."""

    root: Path
    store: Store
    config: Config

    def reconcile(self) -> dict[str, Any]:
        return reconcile(self.store, self.config)


def _open(root: Path) -> Demo:
    config = load_config(root / "data" / "mdm.toml")
    config.var_dir = root / "var"
    config.database_url = f"sqlite:///{root / 'mdm.sqlite'}"
    return Demo(root, Store(config.database_url), config)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui-demo")
    generate(root / "data", persons=DEMO_PERSONS, seed=DEMO_SEED)
    demo = _open(root)
    demo.store.upgrade()
    demo.reconcile()
    demo.store.dispose()  # closes the WAL, so the file can be copied
    return root


def copy_demo(template: Path, dest: Path) -> Demo:
    shutil.copytree(template, dest)
    return _open(dest)


def demo_app(demo: Demo, **extra: Any) -> Flask:
    return create_app({"MDM_STORE": demo.store, "VAR_DIR": str(demo.root / "var"), "SECRET_KEY": "ui-test-secret",
                       "ACCESS_LOG_KEY": b"ui-test-access-key", "MDM_DEV": True, **extra})


class LiveServer:
    """The app under a real HTTP server in a daemon thread (werkzeug, threaded)."""

    def __init__(self, app: Flask) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None. CI (MDM_REQUIRE_BROWSER=1) fails instead of skipping."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    reason = None
    if missing:
        reason = (f"{' and '.join(missing)} missing: install Debian's chromium and chromium-driver "
                  "(apt-get install -y chromium chromium-driver)")
    elif importlib.util.find_spec("selenium") is None:
        reason = "selenium is not installed (pip install -e '.[test]')"
    if reason and os.environ.get("MDM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required (MDM_REQUIRE_BROWSER=1) but {reason}")
    return reason


def chromium(user_data_dir: Path) -> Any:
    """Headless Chromium through Debian's chromedriver; no network of its own, a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", f"--user-data-dir={user_data_dir}", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver
