"""Shared pieces of the steward UI: the blueprint, role checks, service-error handling, filters.

Views stay thin: they read forms, call a service (``mdm.services.stewardship``
to write, ``mdm.services.steward_views`` to read) and render. The one rule that
lives here is who may do what: viewers read, stewards decide and edit, admins
also manage users and API clients.
"""
from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Callable, TypeVar

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from mdm.errors import MdmError
from mdm.services.access_log import identifier_digest, record_access
from mdm.services.steward_views import mask_text

from .db import get_db

bp = Blueprint("ui", __name__)

ROLE_RANK = {"viewer": 0, "steward": 1, "admin": 2}
F = TypeVar("F", bound=Callable[..., Any])


def has_role(role: str) -> bool:
    """True if the logged-in user has ``role`` or a higher one."""
    user = g.get("user")
    return user is not None and ROLE_RANK.get(user.role, -1) >= ROLE_RANK[role]


def forbidden(message: str = "Your role may not do this.") -> tuple[str, int]:
    return render_template("error.html", status=403, message=message), 403


def role_required(role: str) -> Callable[[F], F]:
    """Log in first (redirect), then the role or a higher one (403 otherwise)."""
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if g.get("user") is None:
                return redirect(url_for("auth.login"))
            if not has_role(role):
                return forbidden(f"This needs the {role} role; you are a {g.user.role}.")
            return view(*args, **kwargs)
        return wrapped  # type: ignore[return-value]
    return decorate


def actor() -> str:
    return str(g.user.username)


def run_service(action: Callable[[], Any], done: str | Callable[[Any], str] | None) -> tuple[bool, Any]:
    """Run one write service call and commit; flash the outcome.

    A refusal (MdmError: not open any more, not permitted, bad value) rolls the
    transaction back and is shown to the steward; its message never holds a HETU
    (the services never echo one), but it is masked anyway.
    """
    db = get_db()
    try:
        result = action()
        db.commit()
    except MdmError as exc:
        db.rollback()
        flash(mask_text(exc), "error")
        return False, None
    if done is not None:
        flash(done(result) if callable(done) else done, "success")
    return True, result


def log_view(endpoint: str, golden_ids: list[str], *, identifier: tuple[str, str] | None = None,
             purpose: str | None = None) -> None:
    """An access-log row for a steward who looked at people (Client Data Act 703/2023).

    Identifier searches store only the keyed digest of the normalised value, as the API does.
    """
    digest = None
    if identifier is not None:
        digest = identifier_digest(current_app.config["ACCESS_LOG_KEY"], identifier[1])
    record_access(get_db(), endpoint=endpoint, status_code=200, username=actor(), purpose=purpose,
                  identifier_type=identifier[0] if identifier else None, identifier_digest=digest,
                  golden_ids=golden_ids)
    get_db().commit()


def arg_int(name: str, default: int = 1) -> int:
    try:
        return max(1, int(request.args.get(name, default)))
    except ValueError:
        return default


def arg_float(name: str) -> float | None:
    try:
        value = float(request.args.get(name, ""))
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def local_url(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default``: no open redirects."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


# -- template helpers -----------------------------------------------------------------

@bp.app_template_filter("when")
def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


@bp.app_template_filter("pct")
def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f} %"


@bp.app_template_filter("masked")
def _masked(value: Any) -> str:
    return mask_text(value)


@bp.app_template_filter("show")
def _show(value: Any) -> str:
    """An attribute value as text: an address on one line, booleans as yes/no."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        town = " ".join(str(value[k]) for k in ("postal_code", "city") if value.get(k))
        street = value.get("raw") or value.get("street") or ""
        return mask_text(", ".join(p for p in (str(street), town) if p)) or "—"
    return mask_text(value)


@bp.app_context_processor
def _roles() -> dict[str, Any]:
    return {"has_role": has_role}


@bp.app_template_global("page_url")
def _page_url(number: int) -> str:
    """This page's URL with its filters kept and another page number."""
    args = {**request.args.to_dict(), "page": number}
    return url_for(str(request.endpoint), **(request.view_args or {}), **args)
