"""Golden record pages: surviving values with provenance, records, identifiers,
relations and history; merge, split, overrides and the HETU reveal.

Privacy: every value on the page comes from ``steward_views`` with HETUs
masked. The clear value is only ever in the answer to a reveal POST (a page
that is not cached: ``Cache-Control: no-store``), never in a URL, a redirect,
a flash message (those live in the session cookie) or a log line; the reveal
itself is written to the audit log by ``stewardship.reveal_hetu``.
"""
from __future__ import annotations

from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from mdm.services import steward_views as views
from mdm.services import stewardship
from mdm.services.stewardship import NotFound, StewardshipError

from .db import get_db
from .ui_common import actor, bp, forbidden, has_role, log_view, role_required, run_service
from .ui_forms import ButtonForm, MergeForm, OverrideForm, RevealForm, SplitForm, override_value


def _resolve(golden_id: str) -> tuple[str, bool]:
    if len(golden_id) > 40 or not golden_id.isprintable():
        abort(404)
    try:
        return stewardship.resolve_golden_id(get_db(), golden_id)
    except NotFound:
        abort(404)
    except StewardshipError as exc:  # a broken redirect chain
        abort(410, str(exc))


def _page(golden_id: str, *, revealed: list[str] | None = None, status: int = 200, **forms: Any) -> Any:
    # Viewers are ordinary users: a person under turvakielto has no address or contact shown to them.
    detail = views.golden_detail(get_db(), golden_id, protect=not has_role("steward"))
    if detail is None:
        abort(404)
    log_view("ui.golden.reveal" if revealed is not None else "ui.golden", [golden_id])
    context = {"merge_form": MergeForm(formdata=None), "split_form": SplitForm(formdata=None),
               "override_form": OverrideForm(formdata=None), "button_form": ButtonForm(formdata=None),
               "reveal_form": RevealForm(formdata=None), **forms}
    return render_template("ui/golden.html", d=detail, revealed=revealed, **context), status


@bp.get("/golden/<golden_id>")
@role_required("viewer")
def golden(golden_id: str) -> Any:
    final_id, redirected = _resolve(golden_id)
    if redirected:
        flash(f"Golden record {golden_id} was merged into {final_id}; showing the survivor.", "notice")
        return redirect(url_for("ui.golden", golden_id=final_id))
    return _page(final_id)


@bp.post("/golden/<golden_id>/merge")
@role_required("steward")
def golden_merge(golden_id: str) -> Any:
    form = MergeForm()
    if not form.validate_on_submit():
        return _page(golden_id, status=400, merge_form=form)
    other = form.other_id.data.strip()
    try:
        other, _ = stewardship.resolve_golden_id(get_db(), other)
    except StewardshipError as exc:
        flash(views.mask_text(exc), "error")
        return redirect(url_for("ui.golden", golden_id=golden_id))
    run_service(lambda: stewardship.merge_golden(get_db(), golden_id, other, actor(), form.comment.data or None),
                f"Merged {other} into {golden_id}; {other} now redirects here.")
    return redirect(url_for("ui.golden", golden_id=golden_id))


@bp.post("/golden/<golden_id>/split")
@role_required("steward")
def golden_split(golden_id: str) -> Response:
    form = SplitForm()
    ids = sorted({int(r) for r in request.form.getlist("record_ids") if r.isdigit()})
    if form.validate_on_submit():
        run_service(lambda: stewardship.split_golden(get_db(), golden_id, ids, actor(), form.comment.data or None),
                    lambda new_id: f"Split {len(ids)} record(s) off into the new golden record {new_id}.")
    return redirect(url_for("ui.golden", golden_id=golden_id))


@bp.post("/golden/<golden_id>/override")
@role_required("steward")
def golden_override(golden_id: str) -> Any:
    form = OverrideForm()
    if not form.validate_on_submit():
        return _page(golden_id, status=400, override_form=form)
    attribute = form.attribute.data
    run_service(lambda: stewardship.set_override(get_db(), golden_id, attribute,
                                                 override_value(attribute, form.value.data), actor(),
                                                 form.reason.data),
                f"Override of {attribute} saved; it wins until removed.")
    return redirect(url_for("ui.golden", golden_id=golden_id))


@bp.post("/golden/<golden_id>/override/<int:override_id>/remove")
@role_required("steward")
def golden_override_remove(golden_id: str, override_id: int) -> Response:
    if ButtonForm().validate_on_submit():
        run_service(lambda: stewardship.remove_override(get_db(), override_id, actor()),
                    "Override removed; the attribute follows survivorship again.")
    return redirect(url_for("ui.golden", golden_id=golden_id))


@bp.post("/golden/<golden_id>/reveal")
@role_required("steward")
def golden_reveal(golden_id: str) -> Any:
    form = RevealForm()
    if not form.validate_on_submit():
        return _page(golden_id, status=400, reveal_form=form)
    final_id, _ = _resolve(golden_id)
    try:
        values = stewardship.reveal_hetu(get_db(), final_id, actor(), g.user.role, form.reason.data)
        get_db().commit()  # the audit row first: no disclosure without it
    except stewardship.NotPermitted as exc:
        get_db().rollback()
        return forbidden(str(exc))
    except StewardshipError as exc:
        get_db().rollback()
        flash(views.mask_text(exc), "error")
        return redirect(url_for("ui.golden", golden_id=final_id))
    return _page(final_id, revealed=values)
