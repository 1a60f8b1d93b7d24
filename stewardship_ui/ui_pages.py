"""Search, reconciliation runs and the audit log (read-only pages, every role)."""
from __future__ import annotations

import json
from typing import Any

from flask import abort, render_template, request

from mdm.services import lookup
from mdm.services import steward_views as views

from .db import get_db
from .ui_common import arg_int, bp, log_view, role_required
from .ui_forms import IdentifierSearchForm


@bp.get("/search")
@role_required("viewer")
def search() -> Any:
    """Name and birth-date search (GET: the query may be bookmarked).

    A HETU-shaped query is not run: it would put a HETU in the URL, browser
    history and logs. (security.py already refuses an upper-case one before
    routing; this catches lower-case and spaced forms.) The page points to the
    identifier form, which is a POST.
    """
    q = (request.args.get("q") or "").strip()[:200]
    results, refused = None, False
    if q and views.looks_like_hetu(q):
        refused, q = True, ""
    elif q:
        results = views.search_people(get_db(), q)
        log_view("ui.search", [r["id"] for r in results])
    html = render_template("ui/search.html", q=q, results=results, refused=refused,
                           id_form=IdentifierSearchForm(formdata=None))
    return html, 400 if refused else 200


@bp.post("/search")
@role_required("viewer")
def search_identifier() -> Any:
    """Search by identifier; HETUs travel only in this POST body and are never echoed back."""
    form = IdentifierSearchForm()
    results, error = None, None
    if form.validate_on_submit():
        try:
            results = views.search_identifier(get_db(), form.type.data, form.value.data)
        except lookup.InvalidLookup as exc:
            error = str(exc)  # the service's message never echoes the value
        else:
            key = lookup.parse_lookup(form.type.data, form.value.data)
            log_view("ui.search.identifier", [r["id"] for r in results], identifier=(key.type, key.value))
    # The value is not put back into the form: the answer page must not hold it.
    form.value.data = ""
    return render_template("ui/search.html", q="", results=results, refused=False, id_form=form, error=error)


@bp.get("/runs")
@role_required("viewer")
def runs() -> str:
    return render_template("ui/runs.html", page=views.runs(get_db(), page=arg_int("page")))


@bp.get("/runs/<int:run_id>")
@role_required("viewer")
def run(run_id: int) -> str:
    row = views.run_detail(get_db(), run_id)
    if row is None:
        abort(404)
    report = row.report or {}
    pretty = views.mask_text(json.dumps(report, indent=2, default=str, ensure_ascii=False))
    top = max([b.get("count", 0) for b in report.get("match_weight_histogram") or []] or [1]) or 1
    return render_template("ui/run.html", run=row, report=report, pretty=pretty, top=top)


@bp.get("/audit")
@role_required("viewer")
def audit() -> str:
    args = {"actor": request.args.get("actor") or None, "action": request.args.get("action") or None,
            "date_from": views.parse_date(request.args.get("date_from") or ""),
            "date_to": views.parse_date(request.args.get("date_to") or "")}
    page = views.audit_events(get_db(), page=arg_int("page"), **args)
    actors, actions = views.audit_choices(get_db())
    return render_template("ui/audit.html", page=page, args=args, actors=actors, actions=actions)
