"""The stewards' UI: server-rendered pages on one blueprint (``ui``).

The routes live in the ``ui_*`` modules by subject and register on the
blueprint of :mod:`ui_common` when imported here:

* ``ui_review``: the review queue and the task page (decisions);
* ``ui_golden``: golden record pages (merge, split, overrides, HETU reveal);
* ``ui_pages``: search, reconciliation runs, the audit log;
* ``ui_admin``: users and API clients (admins only).

Every page works without JavaScript; ``static/ui.js`` only adds keyboard
shortcuts and a "select all" box.
"""
from __future__ import annotations

from flask import redirect, url_for
from werkzeug.wrappers import Response

from . import ui_admin, ui_golden, ui_pages, ui_review  # noqa: F401 - their routes register on bp
from .ui_common import bp

__all__ = ["bp"]


@bp.get("/")
def index() -> Response:
    return redirect(url_for("ui.review"))
