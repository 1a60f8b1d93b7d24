"""Running the app under gunicorn (in-process, via its ``BaseApplication`` API).

Logging and the no-HETU rule: the access log line is
``host time "METHOD PATH" status bytes duration`` - the path only, never the
query string (``%(U)s``, not ``%(r)s``/``%(q)s``), and every atom goes through
the HETU redaction, so even a refused ``GET /api/v1/golden/<HETU>`` is logged
as ``/api/v1/golden/[redacted]``. Every log handler also gets the redacting
filter.

Each worker builds its own app (``preload_app`` off): database engines and
connection pools must not be shared across ``fork``.

Garbage collection: a worker holds ~200,000 long-lived objects (the app, the
libraries it imports, the match-on-entry model), and every full collection
of CPython's cyclic collector walks all of them: ~90 ms here, during which the
worker answers nothing (in process, 6,000 resolves: one such pause, max 104
ms; `bench api` runs of the code without this had resolve p99 of 109 and 247
ms among runs of 16-22 ms). So each worker moves what it holds after
start-up, and again after each new model, into the collector's permanent
generation (``gc.freeze``); full collections then walk only what came later
(~0.3 ms). What was frozen is still freed by reference counting; only cycles
among it wait for the next model, when the worker unfreezes, collects once,
and freezes again.
"""
from __future__ import annotations

import gc
import logging
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from mdm.config import Config
from mdm.services.access_log import ACCESS_LOG_KEY_FILE, load_or_create_key

from . import SECRET_KEY_FILE, create_app
from .security import RedactingFilter, redact

ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


class RedactingLogger(GunicornLogger):
    """Gunicorn's logger with HETU-shaped tokens blanked in access-log atoms and log lines."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for lg in (self.error_log, self.access_log):
            for handler in lg.handlers:
                handler.addFilter(RedactingFilter())


class MdmServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], config_path: str | None) -> None:
        self.options = options
        self.config_path = config_path
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings of newer gunicorns are skipped on older ones
                self.cfg.set(key, value)

    def load(self) -> Any:
        app = create_app(config_path=self.config_path)
        # Sync workers: one request at a time on one thread, so the API's read connection is kept.
        app.config["API_KEEP_CONNECTION"] = self.cfg.worker_class_str == "sync"
        app.extensions["mdm_resolve_models"].on_new_model = settle_heap
        settle_heap()
        return app


def settle_heap() -> None:
    """Collect once, then exempt everything alive from later full collections (see the module doc)."""
    gc.unfreeze()  # what an earlier call froze (an old model) is looked at again
    gc.collect()
    gc.freeze()


def gunicorn_options(host: str, port: int, workers: int) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "preload_app": False,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "logger_class": RedactingLogger,
        "timeout": 60,
        "graceful_timeout": 20,
        "proc_name": "mdm-serve",
        # gunicorn >= 24 opens a control socket in ~/.gunicorn: not needed, and
        # two servers on one machine (tests, demo) would fight over it.
        "control_socket_disable": True,
    }


def run(config: Config, *, host: str, port: int, workers: int,
        server_class: type[MdmServer] = MdmServer) -> None:
    """Serve until stopped; ``server_class`` lets the API bench add its floor endpoints (bench/api_floor.py)."""
    # Make the key files before forking, so the workers all read the same keys.
    load_or_create_key(config.var_dir / SECRET_KEY_FILE, "MDM_SECRET_KEY")
    load_or_create_key(config.var_dir / ACCESS_LOG_KEY_FILE, "MDM_ACCESS_LOG_KEY")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    server_class(gunicorn_options(host, port, workers), str(config.path) if config.path else None).run()
