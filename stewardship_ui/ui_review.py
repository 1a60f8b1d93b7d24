"""The review queue and the task page: pairs matching could not decide.

A decision is a steward decision (must-link for "same person", cannot-link for
"different people") that the next reconciliation honours; ``skip`` leaves the
pair undecided. All of it is ``stewardship.decide_review_task``.
"""
from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from mdm.services import steward_views as views
from mdm.services import stewardship

from .db import get_db
from .ui_charts import waterfall
from .ui_common import actor, arg_float, arg_int, bp, has_role, local_url, log_view, role_required, run_service
from .ui_forms import DecisionForm

DONE = {"same": "same person", "different": "different people", "skip": "skipped"}


def _queue_args() -> dict[str, Any]:
    sort = request.args.get("sort", "score_desc")
    return {"source": request.args.get("source") or None, "min_score": arg_float("min_score"),
            "max_score": arg_float("max_score"), "sort": sort if sort in views.SORTS else "score_desc"}


@bp.get("/review")
@role_required("viewer")
def review() -> str:
    args = _queue_args()
    per_page = min(arg_int("per_page", 25), 100)
    page = views.review_queue(get_db(), page=arg_int("page"), per_page=per_page, **args)
    return render_template("ui/review.html", page=page, args=args, sources=views.source_names(get_db()),
                           form=DecisionForm())


@bp.post("/review/decide")
@role_required("steward")
def review_decide() -> Response:
    """Decide every selected task the same way (each in its own transaction)."""
    form = DecisionForm()
    back = local_url(request.form.get("next"), url_for("ui.review"))
    if not form.validate_on_submit():
        flash("Choose a decision.", "error")
        return redirect(back)
    ids = sorted({int(t) for t in request.form.getlist("task_ids") if t.isdigit()})
    if not ids:
        flash("Select at least one task.", "error")
        return redirect(back)
    decision, comment = form.decision.data, (form.comment.data or None)
    done = 0
    for task_id in ids:
        ok, _ = run_service(
            lambda t=task_id: stewardship.decide_review_task(get_db(), t, decision, actor(), comment), None)
        done += ok
    if done:
        flash(f"{done} task{'s' if done > 1 else ''} decided: {DONE[decision]}.", "success")
    return redirect(back)


@bp.get("/review/<int:task_id>")
@role_required("viewer")
def task(task_id: int) -> str:
    detail = views.task_detail(get_db(), task_id, protect=not has_role("steward"))
    if detail is None:
        abort(404)
    log_view("ui.review.task", sorted({r["golden_id"] for r in (detail["left"], detail["right"]) if r["golden_id"]}))
    chart = waterfall(detail["task"].explanation)
    return render_template("ui/task.html", d=detail, t=detail["task"], chart=chart, form=DecisionForm())


@bp.post("/review/<int:task_id>")
@role_required("steward")
def task_decide(task_id: int) -> Response:
    form = DecisionForm()
    if not form.validate_on_submit():
        flash("Choose a decision.", "error")
        return redirect(url_for("ui.task", task_id=task_id))
    decision = form.decision.data
    ok, _ = run_service(
        lambda: stewardship.decide_review_task(get_db(), task_id, decision, actor(), form.comment.data or None),
        f"Task {task_id}: {DONE[decision]}. The next reconciliation applies it.")
    if not ok:
        return redirect(url_for("ui.task", task_id=task_id))
    # On to the next open task, so a steward can clear the queue from the keyboard.
    detail = views.task_detail(get_db(), task_id)
    if detail and detail["next_id"]:
        return redirect(url_for("ui.task", task_id=detail["next_id"]))
    return redirect(url_for("ui.review"))
