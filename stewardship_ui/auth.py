"""Steward UI login and logout (session cookie; CSRF token on every form)."""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from mdm.services import accounts
from mdm.store import models as m

from .db import get_db

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, url_prefix="/auth")


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    role: str


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class LogoutForm(FlaskForm):
    """No fields: only the CSRF token, so logging someone out needs our page."""


@bp.before_app_request
def load_logged_in_user() -> None:
    g.user = None
    user_id = session.get("user_id")
    # API requests authenticate by key and carry no session: no query for them.
    if user_id is None or request.blueprint == "api":
        return
    user = get_db().get(m.AppUser, user_id)
    if user is None or user.disabled:
        session.clear()  # a disabled user is logged out at the next request
        return
    g.user = CurrentUser(user.id, user.username, user.role)


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            return redirect(url_for("auth.login"))
        return view(*args, **kwargs)

    return wrapped


@bp.app_context_processor
def _logout_form() -> dict[str, Any]:
    return {"logout_form": LogoutForm() if g.get("user") else None}


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        db = get_db()
        user = accounts.authenticate(db, form.username.data or "", form.password.data or "")
        if user is None:
            db.rollback()
            log.info("failed login for a user name of %d characters", len(form.username.data or ""))
            flash("Wrong user name or password, or the account is disabled.")
        else:
            db.add(m.AuditEvent(actor=user.username, action="login", target_type="app_user",
                                target_id=user.username, details={}))
            db.commit()
            session.clear()  # a fresh session: no fixation of a pre-login one
            session["user_id"] = user.id
            session.permanent = True
            return redirect(url_for("ui.index"))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> Response:
    # CSRFProtect has already checked the token of the logout form.
    session.clear()
    return redirect(url_for("auth.login"))
