"""The stewards' UI. For now: the entry point and a placeholder review queue."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from .auth import login_required

bp = Blueprint("ui", __name__)


@bp.get("/")
def index() -> Response:
    return redirect(url_for("ui.review"))


@bp.get("/review")
@login_required
def review() -> str:
    # The queue itself (review_task rows, decisions) is a later task.
    return render_template("ui/review.html", tasks=[])
