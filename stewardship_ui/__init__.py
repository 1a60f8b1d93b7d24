"""The Flask app: the stewards' UI and the REST API for source systems.

``create_app()`` reads the mdm TOML configuration (``MDM_CONFIG`` or
``mdm.toml``; ``MDM_DATABASE_URL`` overrides the database), like the ``mdm``
command. Settings of the ``[api]`` table:

* ``secure_cookies`` (default true unless testing or ``MDM_DEV=1``): send the
  session cookie over HTTPS only;
* ``client_cache_seconds`` (default 5): how long an API key check is cached in
  a worker, i.e. how long a revoked key may still work.

Secrets: ``MDM_SECRET_KEY`` (signs session cookies) or a key file made once in
the var folder (``secret_key``, mode 0600); likewise ``MDM_ACCESS_LOG_KEY`` or
``access_log.key`` for the access log's identifier digests. Keep both files:
a new access-log key makes old digests unsearchable.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from mdm.config import load_config
from mdm.services.access_log import ACCESS_LOG_KEY_FILE, load_or_create_key
from mdm.store import Store

from .json_provider import OrjsonProvider

SECRET_KEY_FILE = "secret_key"
WEB_SQLITE_CACHE_KIB = 8192
csrf = CSRFProtect()


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def create_app(test_config: Mapping[str, Any] | None = None, *, config_path: str | None = None) -> Flask:
    """Build the app. ``test_config`` overrides settings; ``MDM_STORE`` in it passes a ready Store."""
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    overrides = dict(test_config or {})
    store = overrides.pop("MDM_STORE", None)
    cfg = load_config(config_path or os.environ.get("MDM_CONFIG"))
    testing = bool(overrides.get("TESTING"))
    dev = _truthy(os.environ.get("MDM_DEV", "")) or bool(overrides.get("MDM_DEV"))
    app.config.from_mapping(
        DATABASE_URL=cfg.database_url,
        VAR_DIR=str(cfg.var_dir),
        SESSION_COOKIE_NAME="mdm_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(cfg.api.get("secure_cookies", not (testing or dev))),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        CLIENT_CACHE_SECONDS=float(cfg.api.get("client_cache_seconds", 5)),
        # Match-on-entry uses the same bands as the nightly run ([matching] in mdm.toml).
        MATCHING=dict(cfg.matching),
        # No request of ours is large; refuse big bodies before parsing them.
        MAX_CONTENT_LENGTH=64 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
    )
    app.config.update(overrides)
    var_dir = Path(app.config["VAR_DIR"])
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_key(var_dir / SECRET_KEY_FILE, "MDM_SECRET_KEY")
    if not app.config.get("ACCESS_LOG_KEY"):
        app.config["ACCESS_LOG_KEY"] = load_or_create_key(var_dir / ACCESS_LOG_KEY_FILE, "MDM_ACCESS_LOG_KEY")

    from . import api, auth, db, errors, security, ui

    security.init_app(app)  # first: the no-HETU-in-URL guard runs before anything else
    errors.init_app(app)
    if store is None:
        # Pooled connections are checked by a socket poll, not a SELECT 1 round trip (mdm/store/db.py);
        # on SQLite each of them caches 8 MB of pages, not a reconciliation's 64.
        store = Store(app.config["DATABASE_URL"], liveness="socket", sqlite_cache_kib=WEB_SQLITE_CACHE_KIB)
    db.init_app(app, store)
    csrf.init_app(app)
    api.init_app_state(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(ui.bp)
    # The API authenticates every request by key and sets no cookie: CSRF does not apply.
    csrf.exempt(api.bp)
    return app
