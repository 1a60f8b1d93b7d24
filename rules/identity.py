"""Identity rules: hard must-link / cannot-link evidence, declared in ``matching.toml``.

Only valid, non-temporary values count (quality ``valid``: temporary HETUs have
quality ``temporary`` and are weak evidence for the model only). Steward
decisions are not rules: they beat these, and are applied by the clustering.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

RULES_FILE = Path(__file__).with_name("matching.toml")


@dataclass(frozen=True)
class IdentityRule:
    name: str
    evidence: tuple[str, ...]
    effect: str  # must_link | cannot_link
    description: str = ""


@dataclass
class MatchRules:
    auto_link: float
    review: float
    seed: int
    u_max_pairs: float
    identity_rules: list[IdentityRule] = field(default_factory=list)

    def rules(self, effect: str) -> list[IdentityRule]:
        return [r for r in self.identity_rules if r.effect == effect]


def load_match_rules(overrides: Mapping[str, Any] | None = None, path: Path = RULES_FILE) -> MatchRules:
    """The shipped rules, with ``[matching]`` options of mdm.toml on top."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    overrides = overrides or {}
    bands = {**data["bands"], **{k: overrides[k] for k in ("auto_link", "review") if k in overrides}}
    training = {**data["training"], **{k: overrides[k] for k in ("seed", "u_max_pairs") if k in overrides}}
    if not 0 < float(bands["review"]) <= float(bands["auto_link"]) < 1:
        raise ValueError(f"match bands need 0 < review <= auto_link < 1, got {bands}")
    rules = []
    for raw in data.get("identity_rules", []):
        if raw["effect"] not in ("must_link", "cannot_link"):
            raise ValueError(f"identity rule {raw['name']!r}: unknown effect {raw['effect']!r}")
        rules.append(IdentityRule(raw["name"], tuple(raw["evidence"]), raw["effect"], raw.get("description", "")))
    return MatchRules(
        auto_link=float(bands["auto_link"]),
        review=float(bands["review"]),
        seed=int(training["seed"]),
        u_max_pairs=float(training["u_max_pairs"]),
        identity_rules=rules,
    )


def strong_value(std: Mapping[str, Any], rule: IdentityRule) -> str | None:
    """The record's valid value for the rule's evidence types (the first one, if several)."""
    for ident in std.get("identifiers") or ():
        if ident.get("type") in rule.evidence and ident.get("quality") == "valid" and ident.get("value"):
            return str(ident["value"])
    return None


#: Up to this many records share a value, every pair is a must-link (so a steward's
#: cannot-link between two of them cannot cut the others off); above it, a chain.
ALL_PAIRS_UP_TO = 12


def must_link_pairs(values: Mapping[int, str]) -> list[tuple[int, int]]:
    """Pairs of records sharing a value."""
    groups: dict[str, list[int]] = {}
    for record_id, value in values.items():
        groups.setdefault(value, []).append(record_id)
    pairs: list[tuple[int, int]] = []
    for ids in groups.values():
        ids.sort()
        if len(ids) <= ALL_PAIRS_UP_TO:
            pairs.extend((a, b) for i, a in enumerate(ids) for b in ids[i + 1:])
        else:
            pairs.extend(zip(ids, ids[1:]))
    return pairs


def evidence_types(rules: Iterable[IdentityRule]) -> set[str]:
    return {t for r in rules for t in r.evidence}
