"""The steward UI's forms. Each carries the CSRF token (``csrf_token``) through FlaskForm.

Lists of checkboxes (tasks to decide at once, records to split off) are read
with ``request.form.getlist`` by the views; the form still checks the token.
"""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from mdm.services.accounts import ROLES
from mdm.services.lookup import LOOKUP_TYPES
from mdm.services.stewardship import DECISIONS
from rules.addresses import standardise_address
from rules.survivorship import ATTRIBUTES

COMMENT = [Optional(), Length(max=2000)]
# Every identifier type a steward may search by; HETU-type values only ever travel in this POST form.
SEARCH_TYPES = [t for t in LOOKUP_TYPES if t != "source_record"]


class DecisionForm(FlaskForm):
    # The three submit buttons are named "decision"; a RadioField validates the value.
    decision = RadioField("Decision", choices=list(DECISIONS), validators=[DataRequired()])
    comment = TextAreaField("Comment (optional)", validators=COMMENT)


class MergeForm(FlaskForm):
    other_id = StringField("Golden id to merge into this one", validators=[DataRequired(), Length(max=40)])
    comment = TextAreaField("Why", validators=COMMENT)


class SplitForm(FlaskForm):
    comment = TextAreaField("Why", validators=COMMENT)


class OverrideForm(FlaskForm):
    attribute = SelectField("Attribute", choices=list(ATTRIBUTES))
    value = StringField("Value (empty: no value)", validators=[Optional(), Length(max=300)])
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=2000)])


class ButtonForm(FlaskForm):
    """A bare button: remove an override, disable a user, revoke a client."""


class RevealForm(FlaskForm):
    reason = StringField("Reason for revealing", validators=[DataRequired(), Length(min=3, max=300)])


class IdentifierSearchForm(FlaskForm):
    type = SelectField("Identifier type", choices=SEARCH_TYPES, default="hetu")
    value = StringField("Value", validators=[DataRequired(), Length(max=320)])


class UserForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired(), Length(max=100)])
    role = SelectField("Role", choices=list(ROLES), default="viewer")
    password = PasswordField("Password (at least 12 characters)", validators=[DataRequired(), Length(max=1000)])


class ClientForm(FlaskForm):
    name = StringField("Client name", validators=[DataRequired(), Length(max=100)])
    scopes = StringField("Scopes", validators=[DataRequired(), Length(max=1000)])
    rate_limit = IntegerField("Requests a minute", default=6000, validators=[NumberRange(min=1, max=10**7)])
    source = StringField("Source system (optional)", validators=[Optional(), Length(max=100)])


def override_value(attribute: str, text: str | None) -> Any:
    """The typed value of an override typed into a text box.

    Empty means "no value". Booleans accept yes/no/true/false; an address is
    "street, postal code city" in the shape survivorship gives; everything
    else is passed on as text and checked by ``stewardship.set_override``.
    """
    text = (text or "").strip()
    if not text:
        return None
    if attribute in ("turvakielto", "deceased"):
        word = text.lower()
        if word in ("yes", "true", "1", "kyllä"):
            return True
        if word in ("no", "false", "0", "ei"):
            return False
        return text  # refused by the service with its own message
    if attribute == "address":
        street, _, town = text.partition(",")
        postal, _, city = town.strip().partition(" ")
        std = standardise_address(street.strip() or None, postal or None, city.strip() or None)
        return {k: std.get(k) for k in ("raw", "street_name", "house_number", "staircase", "apartment",
                                         "postal_code", "city", "municipality")}
    return text
