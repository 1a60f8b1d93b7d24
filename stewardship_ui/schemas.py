"""Marshmallow schemas of every API request and response (also the OpenAPI source).

Responses are dumped through these schemas, so a field not declared here never
leaves the service, whatever the lookup service put in the dict.
"""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from mdm.services.accounts import LOOKUP_TYPES

MAX_BIGINT = 2**63 - 1


class ErrorBodySchema(Schema):
    status = fields.Int(required=True, metadata={"example": 400})
    code = fields.Str(required=True, metadata={"example": "bad_request"})
    message = fields.Str(required=True)
    field = fields.Str(required=True, allow_none=True, metadata={"description": "The request field at fault."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------
class LookupRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    type = fields.Str(required=True, validate=validate.OneOf(LOOKUP_TYPES), metadata={
        "description": "Identifier type. `hetu` and `kela_card` find both (a Kela card is HETU evidence); "
                       "a temporary HETU (individual number 900-999) finds only temporary identifiers. "
                       "`source_record` looks up a source's own record id (needs `source`)."})
    value = fields.Str(required=True, validate=validate.Length(min=1, max=320), metadata={
        "description": "The identifier, as written; it is normalised as matching normalises it."})
    source = fields.Str(validate=validate.Length(min=1, max=100), metadata={
        "description": "Source system name, for `type` `source_record`."})

    @validates_schema
    def _source_needed(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") == "source_record" and not data.get("source"):
            raise ValidationError("a source_record lookup needs the source name", "source")


class HistoryQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Int(load_default=50, validate=validate.Range(1, 1000))
    before = fields.Int(validate=validate.Range(1, MAX_BIGINT), metadata={
        "description": "Return rows older than this history id (the `next_before` of the previous page)."})


class ChangesQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    since = fields.Int(load_default=0, validate=validate.Range(0, MAX_BIGINT), metadata={
        "description": "Return events after this cursor (the `next_cursor` of the previous page)."})
    limit = fields.Int(load_default=100, validate=validate.Range(1, 1000))


# --------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------
class AttributesSchema(Schema):
    """The attribute groups the client may see; absent when not visible or unknown."""

    given_names = fields.Raw(allow_none=True, metadata={"description": "identity"})
    calling_name = fields.Str(allow_none=True, metadata={"description": "identity"})
    family_name = fields.Str(allow_none=True, metadata={"description": "identity"})
    birth_date = fields.Str(allow_none=True, metadata={"description": "identity (ISO date)"})
    sex = fields.Str(allow_none=True, metadata={"description": "identity"})
    hetu = fields.Str(allow_none=True, metadata={"description": "identity; masked without the hetu scope"})
    deceased = fields.Raw(allow_none=True, metadata={"description": "identity"})
    phone = fields.Str(allow_none=True, metadata={"description": "contact; never under turvakielto"})
    email = fields.Str(allow_none=True, metadata={"description": "contact; never under turvakielto"})
    address = fields.Dict(allow_none=True, metadata={
        "description": "address (street, postal_code, city, municipality); never under turvakielto"})


class IdentifierSchema(Schema):
    type = fields.Str(required=True)
    value = fields.Str(required=True)
    masked = fields.Bool(required=True)
    source = fields.Str(required=True)
    status = fields.Str(required=True)
    quality = fields.Str(required=True)


class SourceRefSchema(Schema):
    source = fields.Str(required=True)
    source_id = fields.Str(required=True)


class RelationsSchema(Schema):
    guardians = fields.List(fields.Str(), required=True)
    children = fields.List(fields.Str(), required=True)


class GoldenRecordSchema(Schema):
    id = fields.Str(required=True)
    kind = fields.Str(required=True)
    status = fields.Str(required=True)
    shared = fields.Bool(required=True, metadata={
        "description": "The looked-up identifier is held by more than one golden record (e.g. a family phone)."})
    turvakielto = fields.Bool(required=True, metadata={
        "description": "Non-disclosure for personal safety: no address or contact details are ever returned."})
    redirected_from = fields.Str(allow_none=True, metadata={
        "description": "The merged id that was asked for, when it redirected to this record."})
    attributes = fields.Nested(AttributesSchema, required=True)
    identifiers = fields.List(fields.Nested(IdentifierSchema), required=True)
    sources = fields.List(fields.Nested(SourceRefSchema), required=True)
    relations = fields.Nested(RelationsSchema, required=True)


class LookupResponseSchema(Schema):
    type = fields.Str(required=True)
    shared = fields.Bool(required=True)
    count = fields.Int(required=True)
    results = fields.List(fields.Nested(GoldenRecordSchema), required=True)


class HistoryItemSchema(Schema):
    id = fields.Int(required=True)
    event_type = fields.Str(required=True)
    created_at = fields.DateTime(required=True)
    run_id = fields.Int(allow_none=True)
    details = fields.Dict(required=True)


class HistoryResponseSchema(Schema):
    golden_id = fields.Str(required=True)
    items = fields.List(fields.Nested(HistoryItemSchema), required=True)
    next_before = fields.Int(required=True, allow_none=True, metadata={
        "description": "Pass as `before` for the next (older) page; null on the last page."})


class ChangeSchema(Schema):
    cursor = fields.Int(required=True)
    golden_id = fields.Str(required=True)
    event_type = fields.Str(required=True)
    created_at = fields.DateTime(required=True)
    payload = fields.Dict(required=True, metadata={
        "description": "Ids and statuses only; fetch the golden record for its values."})


class ChangesResponseSchema(Schema):
    items = fields.List(fields.Nested(ChangeSchema), required=True)
    next_cursor = fields.Int(required=True, metadata={"description": "Pass as `since` for the next page."})
