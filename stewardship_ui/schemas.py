"""Marshmallow schemas of every API request and response (also the OpenAPI source).

Responses are dumped through these schemas, so a field not declared here never
leaves the service, whatever the lookup service put in the dict. The hot
endpoints dump with :func:`compile_dump`, the same allow-list compiled into
plain functions once.
"""
from __future__ import annotations

from datetime import timezone
from typing import Any, Callable

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, missing, validate, validates_schema
from marshmallow.utils import get_value

from mdm._typing import IDENTIFIER_TYPES, RELATION_TYPES
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


_LOOKUP_REQUEST = LookupRequestSchema()
_LOOKUP_TYPE_SET = frozenset(LOOKUP_TYPES)


def load_lookup_request(body: dict[str, Any]) -> dict[str, Any]:
    """``LookupRequestSchema().load(body)``: a plainly valid body is taken as it is, without the schema.

    "Plainly valid" is what the schema accepts and returns unchanged: only the
    declared keys, strings within their lengths, a known type, a source for
    ``source_record``. Anything else goes through the schema, for its errors.
    """
    type_, value = body.get("type"), body.get("value")
    has_source = "source" in body
    source = body["source"] if has_source else ""
    if (type_.__class__ is str and value.__class__ is str and source.__class__ is str
            and len(body) == 2 + has_source and type_ in _LOOKUP_TYPE_SET and 1 <= len(value) <= 320
            and (1 <= len(source) <= 100 if has_source else type_ != "source_record")):
        return dict(body)
    return _LOOKUP_REQUEST.load(body)  # type: ignore[no-any-return]


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


# --------------------------------------------------------------------------
# Match-on-entry (POST /resolve) and liveness (GET /ping)
# --------------------------------------------------------------------------
class Text(fields.Str):
    """A string a database column can hold: no NUL, no lone surrogate (else 400, not a database error)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("Not valid text.") from None
        if "\x00" in text:
            raise ValidationError("Not valid text.")
        return text


def _storable_json(value: Any, depth: int = 0) -> None:
    """Source attributes: plain JSON of bounded depth whose strings a database can hold."""
    if depth > 4:
        raise ValidationError("Nested too deeply.")
    if isinstance(value, str):
        Text()._deserialize(value, None, None)
    elif isinstance(value, dict):
        for k, v in value.items():
            _storable_json(k, depth + 1)
            _storable_json(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _storable_json(v, depth + 1)


def _text(max_len: int, **kw: Any) -> Text:
    return Text(validate=validate.Length(max=max_len), allow_none=True, **kw)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class NameInSchema(_Strict):
    given = _text(200, metadata={"description": "All given names as written (or only the calling name)."})
    family = _text(200)
    calling = _text(100, metadata={"description": "The calling (preferred) name, if known."})
    use = fields.Str(load_default="official", validate=validate.OneOf(("official", "maiden", "old", "nickname")))


class IdentifierInSchema(_Strict):
    type = fields.Str(required=True, validate=validate.OneOf(IDENTIFIER_TYPES))
    value = Text(required=True, validate=validate.Length(min=1, max=320), metadata={
        "description": "As written; normalised as matching normalises it. Never echoed or logged."})
    status = fields.Str(load_default="active", validate=validate.OneOf(("active", "lost", "closed", "inactive")))
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)
    system = _text(300, metadata={"description": "e.g. a FHIR identifier system URI (temporary-id systems)."})
    use = _text(50)


class AddressInSchema(_Strict):
    street = _text(300, metadata={"description": "The whole street line, e.g. `Aurakatu 1 A 2`."})
    postal_code = _text(20)
    city = _text(100)
    country = _text(100)
    use = fields.Str(load_default="home", validate=validate.OneOf(("home", "old", "temp")))


class RelationInSchema(_Strict):
    type = fields.Str(required=True, validate=validate.OneOf(RELATION_TYPES))
    subject_source_id = Text(required=True, validate=validate.Length(min=1, max=200))
    object_source_id = Text(required=True, validate=validate.Length(min=1, max=200))
    label = _text(100)


class PersonRecordSchema(_Strict):
    """One person record of a source system, in the canonical form connectors produce."""

    source_id = Text(validate=validate.Length(min=1, max=200), metadata={
        "description": "The source's own id of the record; required with `persist`."})
    names = fields.List(fields.Nested(NameInSchema), load_default=list, validate=validate.Length(max=10))
    birth_date = _text(40, metadata={"description": "ISO date preferred; other written forms are parsed."})
    sex = fields.Str(allow_none=True, validate=validate.OneOf(("male", "female", "other", "unknown")))
    identifiers = fields.List(fields.Nested(IdentifierInSchema), load_default=list,
                              validate=validate.Length(max=50))
    addresses = fields.List(fields.Nested(AddressInSchema), load_default=list, validate=validate.Length(max=10))
    relations = fields.List(fields.Nested(RelationInSchema), load_default=list, validate=validate.Length(max=50))
    flags = fields.List(fields.Str(validate=validate.OneOf(("turvakielto", "deceased"))), load_default=list)
    attributes = fields.Dict(keys=Text(validate=validate.Length(max=60)), values=fields.Raw(allow_none=True),
                             load_default=dict, validate=[validate.Length(max=30), _storable_json], metadata={
                                 "description": "Source attributes (role, category, ...), kept as given."})
    updated_at = fields.AwareDateTime(allow_none=True, default_timezone=timezone.utc)


class ResolveRequestSchema(_Strict):
    record = fields.Nested(PersonRecordSchema, required=True)
    persist = fields.Bool(load_default=False, truthy={True}, falsy={False}, metadata={
        "description": "Store the record as a record of the client's source (scope `persist:SOURCE`) and "
                       "link it (auto), open review tasks (review) or create a golden record (none)."})

    @validates_schema
    def _source_id_needed(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("persist") and not (data.get("record") or {}).get("source_id"):
            raise ValidationError("a record to persist needs its source_id", "record.source_id")


RULE_HELP = ("What set the band besides the score: an identity rule (`same-valid-hetu`, `different-valid-hetu`) "
             "or a safeguard (`ambiguous`: several golden records fit; `too_little_evidence`: no given name, "
             "birth date or identifier to tell family members apart); null when the score alone decided.")


class ExplanationSchema(Schema):
    prior = fields.Float(required=True, metadata={"description": "Prior match weight, log2(λ/(1-λ))."})
    comparisons = fields.List(fields.List(fields.Raw()), required=True, metadata={
        "description": "Per comparison: [name, level label, match weight]; `no data` when a side lacks it."})


class ResolveMatchSchema(Schema):
    golden_id = fields.Str(required=True)
    band = fields.Str(required=True, validate=validate.OneOf(("auto", "review", "none")))
    score = fields.Float(required=True, metadata={"description": "Match probability."})
    match_weight = fields.Float(required=True)
    rule = fields.Str(allow_none=True, metadata={"description": RULE_HELP})


class PersistedSchema(Schema):
    source_record_id = fields.Int(required=True)
    status = fields.Str(required=True, metadata={"description": "new, changed, undeleted or unchanged."})
    action = fields.Str(required=True, metadata={
        "description": "linked (auto), review (tasks opened), created (new golden record) or kept (already linked)."})
    golden_id = fields.Str(required=True, allow_none=True)
    review_tasks = fields.Int(required=True)


class ResolveResponseSchema(Schema):
    band = fields.Str(required=True, validate=validate.OneOf(("auto", "review", "none")))
    golden_id = fields.Str(required=True, allow_none=True, metadata={
        "description": "The best golden record in band auto or review; null in band none."})
    score = fields.Float(required=True, allow_none=True, metadata={
        "description": "Match probability of the best candidate (null: no candidate at all)."})
    match_weight = fields.Float(required=True, allow_none=True)
    rule = fields.Str(required=True, allow_none=True, metadata={"description": RULE_HELP})
    explanation = fields.Nested(ExplanationSchema, required=True, allow_none=True)
    alternatives = fields.List(fields.Nested(ResolveMatchSchema), required=True, metadata={
        "description": "Other golden records in band auto or review, best first."})
    candidates = fields.Int(required=True, metadata={"description": "Candidate records scored."})
    model_version = fields.Int(required=True, allow_none=True, metadata={
        "description": "The matching model that scored; null before the first reconciliation (band none)."})
    persisted = fields.Nested(PersistedSchema, allow_none=True)


class PingResponseSchema(Schema):
    status = fields.Str(required=True, metadata={"example": "ok"})


# --------------------------------------------------------------------------
# Fast dumping
# --------------------------------------------------------------------------
Dumper = Callable[[Any], Any]


def _leaf(f: fields.Field) -> Dumper:
    """``f._serialize`` with a shortcut for values already of the field's type (the common case)."""
    def general(v: Any) -> Any:
        return f._serialize(v, None, None)

    kind = type(f)
    if kind is fields.Nested:
        dump_one = compile_dump(f.schema)
        if f.schema.many or f.many:
            return lambda v: None if v is None else [dump_one(x) for x in v]
        return lambda v: None if v is None else dump_one(v)
    if kind is fields.List:
        inner = _leaf(f.inner)
        return lambda v: None if v is None else [inner(x) for x in v]
    if kind is fields.Raw:
        return lambda v: v
    if kind is fields.String:
        return lambda v: v if v.__class__ is str else general(v)
    if kind is fields.Boolean:
        return lambda v: v if v is True or v is False else general(v)
    if kind is fields.Integer and not f.as_string:
        return lambda v: v if v.__class__ is int else general(v)
    if kind is fields.Dict:
        return general
    raise TypeError(f"compile_dump does not know {kind.__name__} fields")


def compile_dump(schema: Schema) -> Dumper:
    """``schema.dump`` for one object, as plain functions: the same keys, the same values.

    Marshmallow spends most of a lookup's dump time dispatching per field; this
    resolves the dispatch once. Supported: the field types and options the
    lookup responses use (no hooks, defaults, ``many`` schemas); anything else
    raises TypeError here, at import, rather than dumping differently.
    """
    if schema.many or any(schema._hooks[tag] for tag in ("pre_dump", "post_dump")):
        raise TypeError(f"compile_dump does not support {type(schema).__name__} (many or dump hooks)")
    plan: list[tuple[str, str, Dumper]] = []
    for attr, f in schema.dump_fields.items():
        if f.dump_default is not missing or not f._CHECK_ATTRIBUTE:
            raise TypeError(f"compile_dump does not support field {attr} (default or no attribute)")
        key = f.attribute if f.attribute is not None else attr
        if "." in key:
            raise TypeError(f"compile_dump does not support dotted attribute {key}")
        plan.append((key, f.data_key if f.data_key is not None else attr, _leaf(f)))

    def dump(obj: Any) -> dict[str, Any]:
        out = {}
        for key, name, fn in plan:
            value = obj[key] if obj.__class__ is dict and key in obj else get_value(obj, key)
            if value is not missing:
                out[name] = fn(value)
        return out

    return dump
