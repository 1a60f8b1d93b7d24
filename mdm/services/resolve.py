"""Match-on-entry: the best golden record for one incoming person record.

A source system sends one record; it is standardised as a pull would, turned
into the feature row the batch would build, blocked against the stored
feature rows (``match_feature``, written by each reconciliation) with the
batch's blocking rules on their indexed columns, and each candidate pair is
scored by :mod:`matching.realtime` with the active model - the same levels and
weights the nightly run gives that pair. Candidates are grouped by golden
record; the best one gets a band: ``auto`` (match probability >= auto_link),
``review`` (>= review) or ``none``, after the identity rules: the same valid
HETU is ``auto`` whatever the score, a golden record holding a different valid
HETU is never ``auto``. Two safeguards the batch does not need (a steward sees
its clusters): a record with no given name, birth date or identifier to tell
family members apart is at most ``review`` (``too_little_evidence``), and so is
a record that several golden records fit (``ambiguous``). Without the health
attribute group, records of health sources are not matched against.

Holder counts of the new record's phone, e-mail and address (how many people
hold the value) come from the stored records holding the same value, with the
batch's rule (:func:`matching.features._holders`): exact when every stored
holder is among the candidates (always for phones and e-mails of at most 12
holders: the phone/e-mail blocking finds them all); otherwise the stored count
of the holders found, plus one when the new record is nobody among them.

Blocking: ``hetu_any``; ``birth_date``; ``first_given + surname``;
``phone_block``; ``email_block``; ``other_id``; ``postcode + surname``; the
swapped names; and, when ``match_feature`` has the columns (``address_block``,
``street_prefix``), ``address_block + first_given`` and ``street prefix +
first_given``. Each rule reads at most :data:`RULE_CAP` rows.

Storing the record (``persist``) is :mod:`mdm.services.resolve_store`.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from sqlalchemy import Integer, String, column, func, select, text
from sqlalchemy.orm import Session

from matching import features as F
from matching.model import TrainedModel, settings_fingerprint
from matching.realtime import PairScore, RealtimeScorer
from mdm._typing import AddressIn, IdentifierIn, NameIn, RelationIn, SourceRecordIn
from rules import standardise_record
from rules.identity import MatchRules, strong_value

from ..errors import MdmError
from ..store import models as m
from .lookup import is_health_connector

#: Rows read per blocking rule: bounds the work of a common name or birth date.
RULE_CAP = 200
#: Golden records listed beside the best one (auto/review band only).
MAX_ALTERNATIVES = 5
BANDS = ("auto", "review", "none")
#: Without one of these a record cannot tell family members apart: never linked automatically.
PERSON_EVIDENCE = ("first_given", "birth_date", "hetu", "other_id")
MF = m.MatchFeature
_HAS = set(MF.__table__.c.keys())


class ModelNotReady(MdmError):
    """The active model does not fit this version's comparisons (retrain with ``mdm reconcile``)."""


# --------------------------------------------------------------------------
# The active model, cached per process
# --------------------------------------------------------------------------
@dataclass
class _Loaded:
    version: int
    scorer: RealtimeScorer
    connectors: dict[str, str]
    checked: float


class ModelCache:
    """The active model's scorer and the source connectors, re-checked every ``ttl`` seconds.

    ``on_new_model`` is called (under the cache's lock) after a model was
    loaded and the previous one, if any, let go: ``mdm serve`` uses it to
    settle the worker's heap (stewardship_ui/serve.py).
    """

    def __init__(self, ttl: float = 5.0, on_new_model: Callable[[], None] | None = None) -> None:
        self.ttl = ttl
        self.on_new_model = on_new_model
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def get(self, s: Session) -> _Loaded | None:
        """The active model; None before the first reconciliation (then nothing can match)."""
        loaded = self._loaded
        now = time.monotonic()
        if loaded is not None and now - loaded.checked < self.ttl:
            return loaded
        with self._lock:
            version = s.scalar(select(func.max(m.MatchingModel.version)).where(m.MatchingModel.active.is_(True)))
            if version is None:
                return None  # not cached: the first reconciliation is looked for at every call
            connectors = dict(s.execute(select(m.SourceSystem.name, m.SourceSystem.connector)).all())
            new_model = False
            if loaded is None or loaded.version != version:
                new_model = True
                doc = s.scalar(select(m.MatchingModel.document).where(m.MatchingModel.version == version))
                model = TrainedModel.from_document(doc)
                if model.fingerprint != settings_fingerprint():
                    raise ModelNotReady("the active model was trained for other comparisons: run `mdm reconcile`")
                loaded = _Loaded(version, RealtimeScorer(model), connectors, now)
            else:
                loaded = _Loaded(loaded.version, loaded.scorer, connectors, now)
            self._loaded = loaded
            if new_model and self.on_new_model is not None:
                del doc, model  # only the cache holds the new model now; the old one is garbage
                self.on_new_model()
            return loaded


# --------------------------------------------------------------------------
# The incoming record
# --------------------------------------------------------------------------
def record_from_json(data: Mapping[str, Any]) -> SourceRecordIn:
    """A connector record from the API's canonical JSON (already validated by the schema)."""
    def iso(v: Any) -> Any:
        return v.isoformat() if isinstance(v, (date, datetime)) else v

    return SourceRecordIn(
        source_id=data.get("source_id") or "",
        kind="person",
        names=[NameIn(n.get("given"), n.get("family"), n.get("calling"), n.get("use") or "official")
               for n in data.get("names") or ()],
        birth_date=data.get("birth_date"),
        sex=data.get("sex"),
        identifiers=[IdentifierIn(i["type"], i["value"], i.get("status") or "active", i.get("valid_from"),
                                  i.get("valid_to"), i.get("system"), i.get("use"))
                     for i in data.get("identifiers") or ()],
        addresses=[AddressIn(a.get("street"), a.get("postal_code"), a.get("city"), a.get("country"),
                             a.get("use") or "home") for a in data.get("addresses") or ()],
        relations=[RelationIn(r["type"], r["subject_source_id"], r["object_source_id"], r.get("label"))
                   for r in data.get("relations") or ()],
        flags=set(data.get("flags") or ()),
        attributes=dict(data.get("attributes") or {}),
        updated_at=data.get("updated_at"),
        raw={k: ([{kk: iso(vv) for kk, vv in x.items()} if isinstance(x, dict) else x for x in v]
                 if isinstance(v, list) else iso(v)) for k, v in data.items()},
    )


# --------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------
#: The batch's blocking rules on match_feature's indexed columns: (bit, [(column, parameter)]).
#: The phone/e-mail/address rules look up the record's *value* (not its block): the rows
#: found are also all the holders the holder count needs (a block holds <= 12 people).
BLOCKING = [
    (1, [("hetu_any", "hetu_any")]),
    (2, [("birth_date", "birth_date")]),
    (4, [("first_given", "first_given"), ("surname", "surname")]),
    (8, [("phone_block", "phone")]),
    (16, [("email_block", "email")]),
    (32, [("other_id", "other_id")]),
    (64, [("postcode", "postcode"), ("surname", "surname")]),
    (128, [("first_given", "surname"), ("surname", "first_given")]),  # given name and surname swapped
] + ([(256, [("address_block", "address_key"), ("first_given", "first_given")])] if "address_block" in _HAS else []) \
  + ([(512, [("street_prefix", "street_prefix"), ("first_given", "first_given")])] if "street_prefix" in _HAS else [])
_BLOCK_BITS = {"phone": 8, "email": 16, "address_key": 256}


def _candidate_sql() -> Any:
    """One statement of fixed shape (compiled and prepared once): a rule whose value is NULL finds nothing."""
    parts = " UNION ALL ".join(
        f"SELECT rid, bit FROM (SELECT source_record_id AS rid, {bit} AS bit FROM match_feature WHERE "
        + " AND ".join(f"{col} = :{param}" for col, param in conds) + f" LIMIT {RULE_CAP}) AS r{bit}"
        for bit, conds in BLOCKING)
    return text(
        f"SELECT h.rid, h.bits, mf.features, gl.golden_id FROM (SELECT rid, SUM(bit) AS bits FROM ({parts}) AS u "
        "GROUP BY rid) AS h JOIN match_feature mf ON mf.source_record_id = h.rid "
        "JOIN golden_link gl ON gl.source_record_id = h.rid JOIN source_record sr ON sr.id = h.rid "
        "WHERE sr.deleted_at IS NULL"
    ).columns(column("rid", Integer), column("bits", Integer), column("features", MF.features.type),
              column("golden_id", String))


_CANDIDATES = _candidate_sql()
_PARAMS = sorted({param for _bit, conds in BLOCKING for _col, param in conds})


@dataclass
class Candidate:
    record_id: int
    golden_id: str
    features: dict[str, Any]
    bits: int


def fetch_candidates(s: Session, f: Mapping[str, Any]) -> list[Candidate]:
    """Stored current records sharing a blocking key with ``f``, with their golden ids (one query)."""
    street = f.get("street")
    params = {p: f.get(p) for p in _PARAMS}
    params["street_prefix"] = street[:10] if street else None
    if not any(v is not None for v in params.values()):
        return []
    return [Candidate(int(r.rid), r.golden_id, r.features, int(r.bits))
            for r in s.execute(_CANDIDATES, {p: params[p] for p in _PARAMS})]


def _holder(f: Mapping[str, Any]) -> dict[str, Any]:
    return {"given_names": list(f.get("given_names") or ()), "birth_date": f.get("birth_date")}


def holder_count(new: Mapping[str, Any], sharers: Sequence[Mapping[str, Any]], column: str) -> int:
    """People holding ``new[column]`` once the new record is stored (see the module docstring)."""
    if not sharers:
        return 1
    group = [_holder(x) for x in sharers]
    alone = F._holders(group)
    joined = F._holders(group + [_holder(new)])
    stored = max(int(x.get(f"{column.split('_')[0]}_holders") or 0) for x in sharers)
    return max(stored, alone) + (joined - alone)


def new_features(std: Mapping[str, Any], source: str, candidates: Iterable[Candidate]) -> dict[str, Any]:
    """The incoming record's feature row, holder counts and blocking values included."""
    f = F.record_features(0, source, std)
    cands = list(candidates)
    for col in ("phone", "email", "address_key"):
        prefix = col.split("_")[0]
        value = f[col]
        if value is None:
            f[f"{prefix}_holders"], f[f"{prefix}_block"] = None, None
            continue
        holders = holder_count(f, [c.features for c in cands if c.features.get(col) == value], col)
        f[f"{prefix}_holders"] = holders
        f[f"{prefix}_block"] = value if holders <= F.MAX_BLOCKING_HOLDERS else None
    f["given_names"] = f["given_names"] or None
    f["surnames"] = f["surnames"] or None
    return f


# --------------------------------------------------------------------------
# Scoring, identity rules, bands
# --------------------------------------------------------------------------
@dataclass
class GoldenMatch:
    golden_id: str
    record_id: int  # the golden's best-scoring record
    match_weight: float
    probability: float
    pair: PairScore
    band: str = "none"
    rule: str | None = None
    explanation: dict[str, Any] = field(default_factory=dict)  # filled for the golden records answered


@dataclass
class Resolution:
    band: str
    best: GoldenMatch | None
    matches: list[GoldenMatch]  # every golden scored, best first
    model_version: int | None
    standardised: dict[str, Any]
    features: dict[str, Any]
    candidates: int = 0
    hetu_values: list[str] = field(default_factory=list)  # for the access-log digest only

    @property
    def alternatives(self) -> list[GoldenMatch]:
        return [x for x in self.matches[1:] if x.band != "none"][:MAX_ALTERNATIVES]


def _evidence(s: Session, golden_ids: list[str], types: set[str]) -> dict[str, set[tuple[str, str]]]:
    """Golden id -> {(type, value)} of valid identifiers of these types on its current records."""
    out: dict[str, set[tuple[str, str]]] = {g: set() for g in golden_ids}
    if not golden_ids or not types:
        return out
    for gid, type_, value in s.execute(
            select(m.GoldenLink.golden_id, m.Identifier.type, m.Identifier.value)
            .join(m.Identifier, m.Identifier.source_record_id == m.GoldenLink.source_record_id)
            .join(m.SourceRecord, m.SourceRecord.id == m.GoldenLink.source_record_id)
            .where(m.GoldenLink.golden_id.in_(golden_ids), m.Identifier.type.in_(sorted(types)),
                   m.Identifier.quality == "valid", m.SourceRecord.deleted_at.is_(None))):
        if value:
            out[gid].add((type_, value))
    return out


def _apply_bands(s: Session, matches: list[GoldenMatch], std: Mapping[str, Any], f: Mapping[str, Any],
                 rules: MatchRules, candidates: list[Candidate]) -> None:
    for x in matches:
        x.band = "auto" if x.probability >= rules.auto_link else "review" if x.probability >= rules.review else "none"
    strong = [(rule, v) for rule in rules.identity_rules if (v := strong_value(std, rule))]
    if strong:
        values = {v for _r, v in strong}
        sharing = {c.golden_id for c in candidates if c.features.get("hetu_any") in values}
        checked = [x.golden_id for x in matches if x.band != "none" or x.golden_id in sharing]
        held = _evidence(s, checked, {t for rule, _v in strong for t in rule.evidence})
        for x in matches:
            for rule, value in strong if x.golden_id in held else ():
                theirs = {v for t, v in held[x.golden_id] if t in rule.evidence}
                if rule.effect == "cannot_link" and theirs - {value}:
                    # Also when it holds the same HETU too: a conflict for a steward.
                    x.band = "review" if x.probability >= rules.review or value in theirs else "none"
                    x.rule = rule.name
                    break
                if rule.effect == "must_link" and value in theirs:
                    x.band, x.rule = "auto", rule.name
    # Safeguards of match-on-entry (the batch would decide these by score alone):
    # a record that cannot tell family members apart, or that fits several golden
    # records, is linked by a steward, not automatically.
    autos = [x for x in matches if x.band == "auto" and x.rule is None]
    if autos and not any(f.get(c) is not None for c in PERSON_EVIDENCE):
        for x in autos:
            x.band, x.rule = "review", "too_little_evidence"
    elif len([x for x in matches if x.band == "auto"]) > 1:
        for x in autos:
            x.band, x.rule = "review", "ambiguous"


def _rank(x: GoldenMatch) -> tuple[Any, ...]:
    return (BANDS.index(x.band), -x.probability, -x.match_weight, x.golden_id)


def resolve(s: Session, rec: SourceRecordIn, *, models: ModelCache, rules: MatchRules, source: str = "",
            health: bool = True) -> Resolution:
    """The golden records the record may belong to, best first, each with its band."""
    loaded = models.get(s)
    std = standardise_record(rec)
    probe = F.record_features(0, source, std)
    if loaded is None:
        # No reconciliation yet, so no golden record to find: everything is new.
        return Resolution("none", None, [], None, std, new_features(std, source, ()), 0, _hetus(std))
    candidates = fetch_candidates(s, probe)
    if not health:
        # Without the health group a client learns nothing from health sources' records.
        candidates = [c for c in candidates
                      if not is_health_connector(loaded.connectors.get(c.features.get("source_dataset") or ""))]
    f = new_features(std, source, candidates)
    dropped = sum(bit for col, bit in _BLOCK_BITS.items() if f.get(f"{col.split('_')[0]}_block") is None)
    scorer = loaded.scorer
    best: dict[str, GoldenMatch] = {}
    scored = 0
    for c in candidates:
        if not c.bits & ~dropped:
            continue  # found only through a phone/e-mail/address too common to block on
        scored += 1
        pair = scorer.score(f, c.features)
        x = best.get(c.golden_id)
        if x is None or pair.match_weight > x.match_weight:
            best[c.golden_id] = GoldenMatch(c.golden_id, c.record_id, pair.match_weight, pair.match_probability, pair)
    matches = list(best.values())
    _apply_bands(s, matches, std, f, rules, candidates)
    matches.sort(key=_rank)
    top = matches[0] if matches else None
    for x in matches:
        if x is top or x.band != "none":
            x.explanation = scorer.explain(x.pair)
    return Resolution(band=top.band if top else "none", best=top, matches=matches, model_version=loaded.version,
                      standardised=std, features=f, candidates=scored, hetu_values=_hetus(std))


def _hetus(std: Mapping[str, Any]) -> list[str]:
    return [i["value"] for i in std.get("identifiers") or ()
            if i["type"] in ("hetu", "kela_card", "temporary_id") and i.get("value")]
