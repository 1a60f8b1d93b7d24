"""Survivorship: choose each golden attribute's value from its source records.

Declared in ``survivorship.toml``. Candidates come from the standardised
records; each chosen value keeps its provenance (source, source record, the
rule that decided).
"""
from __future__ import annotations

import json
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

RULES_FILE = Path(__file__).with_name("survivorship.toml")
ATTRIBUTES = ("given_names", "calling_name", "family_name", "birth_date", "sex", "hetu", "phone", "email",
              "address", "turvakielto", "deceased")
_VALIDITY_RANK = {"valid": 0, "temporary": 1, "invalid": 2}


@dataclass(frozen=True)
class Candidate:
    value: Any
    source: str
    record_id: int
    updated_at: str | None  # ISO; None sorts as oldest
    quality: str = "valid"


@dataclass(frozen=True)
class AttributeRule:
    strategy: tuple[str, ...]
    trust: tuple[str, ...]


def load_survivorship(path: Path = RULES_FILE) -> dict[str, AttributeRule]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    default = data.get("defaults", {})
    rules = {}
    for attr in ATTRIBUTES:
        spec = {**default, **data.get("attributes", {}).get(attr, {})}
        unknown = set(spec.get("strategy", ())) - {"validity", "trust", "recency", "frequency", "any"}
        if unknown:
            raise ValueError(f"survivorship for {attr}: unknown strategy {sorted(unknown)}")
        rules[attr] = AttributeRule(tuple(spec.get("strategy", ())), tuple(spec.get("trust", ())))
    return rules


def _official(std: Mapping[str, Any]) -> Mapping[str, Any]:
    names = std.get("names") or []
    for n in names:
        if n.get("use") == "official":
            return n
    return names[0] if names else {}


def candidates(record_id: int, source: str, std: Mapping[str, Any],
               updated_at: str | None = None) -> dict[str, list[Candidate]]:
    """Every attribute value one standardised record offers."""
    out: dict[str, list[Candidate]] = {}

    def add(attr: str, value: Any, quality: str = "valid") -> None:
        if value not in (None, "", [], {}):
            out.setdefault(attr, []).append(Candidate(value, source, record_id, updated_at, quality))

    name = _official(std)
    add("given_names", name.get("given"))
    add("calling_name", name.get("calling"))
    add("family_name", name.get("family"))
    add("birth_date", std.get("birth_date"), "invalid" if std.get("birth_date_error") else "valid")
    add("sex", std.get("sex"))
    for ident in std.get("identifiers") or ():
        kind = ident.get("type")
        if kind in ("hetu", "kela_card"):
            add("hetu", ident.get("value"), ident.get("quality", "valid"))
        elif kind in ("phone", "email") and ident.get("status", "active") == "active":
            add(kind, ident.get("value"), ident.get("quality", "valid"))
    for addr in std.get("addresses") or ():
        if addr.get("use", "home") == "home" and (addr.get("raw") or addr.get("postal_code")):
            add("address", {k: addr.get(k) for k in ("raw", "street_name", "house_number", "staircase",
                                                     "apartment", "postal_code", "city", "municipality")},
                "invalid" if addr.get("postal_code_error") else "valid")
            break
    flags = set(std.get("flags") or ())
    add("turvakielto", True if "turvakielto" in flags else None)
    add("deceased", True if "deceased" in flags else None)
    return out


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def choose(attr: str, cands: list[Candidate], rule: AttributeRule) -> dict[str, Any] | None:
    """The surviving value with provenance, or None when no record offers one."""
    if not cands:
        return None
    if rule.strategy == ("any",):
        best = min(cands, key=lambda c: c.record_id)
        return {"value": True, "source": best.source, "source_record_id": best.record_id, "rule": "any"}
    freq = Counter(_key(c.value) for c in cands)
    trust = {s: i for i, s in enumerate(rule.trust)}

    def criterion(name: str, c: Candidate) -> Any:
        if name == "validity":
            return _VALIDITY_RANK.get(c.quality, 3)
        if name == "trust":
            return trust.get(c.source, len(trust))
        if name == "recency":
            return -(datetime.fromisoformat(c.updated_at).timestamp()) if c.updated_at else float("inf")
        if name == "frequency":
            return -freq[_key(c.value)]
        return 0

    def sort_key(c: Candidate) -> tuple[Any, ...]:
        # The record id last: a deterministic choice when every criterion ties.
        return (*(criterion(n, c) for n in rule.strategy), c.record_id)

    ranked = sorted(cands, key=sort_key)
    best = ranked[0]
    decided_by = "only candidate" if len(ranked) == 1 else "tie"
    if len(ranked) > 1:
        runner = ranked[1]
        if _key(runner.value) == _key(best.value):
            decided_by = "agreement"
        else:
            for name in rule.strategy:
                if criterion(name, best) != criterion(name, runner):
                    decided_by = name
                    break
    return {"value": best.value, "source": best.source, "source_record_id": best.record_id, "rule": decided_by}


def survive(members: Iterable[tuple[int, str, Mapping[str, Any], str | None]],
            rules: Mapping[str, AttributeRule],
            overrides: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Surviving attributes of one golden record from ``(record id, source, standardised, updated_at)``."""
    pooled: dict[str, list[Candidate]] = {}
    for record_id, source, std, updated_at in members:
        for attr, cands in candidates(record_id, source, std, updated_at).items():
            pooled.setdefault(attr, []).extend(cands)
    out: dict[str, dict[str, Any]] = {}
    for attr in ATTRIBUTES:
        chosen = choose(attr, pooled.get(attr, []), rules[attr])
        if chosen is not None:
            out[attr] = chosen
    for attr, value in (overrides or {}).items():
        out[attr] = {"value": value, "source": "steward", "source_record_id": None, "rule": "override"}
    return out
