"""Admin pages: steward UI users (create, disable) and REST API clients (create, revoke).

All of it is ``mdm.services.accounts``, the same as ``mdm users`` / ``mdm clients``,
with the admin's name as the audit actor. A new client's key is shown once, in
the answer to the create POST; it is stored only as a hash and never put in a
flash message (those travel in the session cookie).
"""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from mdm.services import accounts
from mdm.services import steward_views as views

from .db import get_db
from .ui_common import actor, bp, role_required, run_service
from .ui_forms import ButtonForm, ClientForm, UserForm


@bp.get("/admin/users")
@role_required("admin")
def users(form: UserForm | None = None, status: int = 200) -> Any:
    return render_template("ui/users.html", users=views.users(get_db()), form=form or UserForm(formdata=None),
                           button_form=ButtonForm(formdata=None), roles=accounts.ROLES), status


@bp.post("/admin/users")
@role_required("admin")
def users_create() -> Any:
    form = UserForm()
    if not form.validate_on_submit():
        return users(form, 400)
    ok, _ = run_service(lambda: accounts.create_user(get_db(), form.username.data.strip(), form.password.data,
                                                     form.role.data, actor=actor()),
                        f"User {form.username.data.strip()} created ({form.role.data}).")
    if not ok:
        form.password.data = ""
        return users(form, 400)
    return redirect(url_for("ui.users"))


@bp.post("/admin/users/<username>/disable")
@role_required("admin")
def users_disable(username: str) -> Response:
    if username == actor():
        flash("You cannot disable yourself.", "error")
    elif ButtonForm().validate_on_submit():
        run_service(lambda: accounts.disable_user(get_db(), username, actor=actor()),
                    f"User {username} disabled; they are logged out at their next request.")
    return redirect(url_for("ui.users"))


@bp.get("/admin/clients")
@role_required("admin")
def clients(form: ClientForm | None = None, status: int = 200, new_key: str | None = None) -> Any:
    return render_template("ui/clients.html", clients=views.clients(get_db()),
                           form=form or ClientForm(formdata=None), button_form=ButtonForm(formdata=None),
                           new_key=new_key, scope_help=accounts.SCOPE_HELP), status


@bp.post("/admin/clients")
@role_required("admin")
def clients_create() -> Any:
    form = ClientForm()
    if not form.validate_on_submit():
        return clients(form, 400)
    name = form.name.data.strip()

    def create() -> str:
        return accounts.create_client(get_db(), name, accounts.parse_scopes(form.scopes.data),
                                      rate_limit_per_minute=form.rate_limit.data,
                                      source=(form.source.data or "").strip() or None, actor=actor())

    ok, key = run_service(create, f"API client {name} created. Copy its key now: it is not shown again.")
    if not ok:
        return clients(form, 400)
    # Rendered, not redirected: the key must appear in this one answer only.
    return clients(None, 200, new_key=key)


@bp.post("/admin/clients/<name>/revoke")
@role_required("admin")
def clients_revoke(name: str) -> Response:
    if ButtonForm().validate_on_submit():
        run_service(lambda: accounts.revoke_client(get_db(), name, actor=actor()),
                    f"API client {name} revoked; its key stops working within seconds.")
    return redirect(url_for("ui.clients"))
