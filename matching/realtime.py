"""Scoring one pair in pure Python, exactly as the Splink model scores it in SQL.

Match-on-entry (``POST /api/v1/resolve``) scores a new record against a few
hundred candidates in milliseconds; building a Splink linker per request takes
far longer. This module evaluates the comparison levels of
:mod:`matching.settings` on two feature rows (dicts of the columns of
:func:`matching.features.record_features` plus the holder counts) with the
same level order and the same SQL semantics:

* a comparison whose null condition holds gets gamma -1 and weight 0;
* a condition on a NULL is never true (three-valued logic; it matters only
  under the ``NOT`` of "Birth date equal, given names unrelated");
* Jaro-Winkler, Levenshtein and Damerau-Levenshtein come from ``jellyfish``
  (tests check them against DuckDB's functions at our thresholds);
* level weights are ``log2(m / u)`` with m and u clamped at 1e-300, and a
  term-frequency level adds ``log2(u_exact) - log2(max(tf_l, tf_r, 0))`` from
  the model's frozen tables, when either value is in the table (Splink's
  ``mw_tf_adj``);
* the match weight is the prior ``log2(lambda / (1 - lambda))`` plus every
  comparison's weight, summed in Splink's order.

When :mod:`matching.settings` changes, this module must change with it:
:class:`RealtimeScorer` refuses a model whose comparisons or level counts do
not fit (and ``tests/test_realtime_equivalence.py`` compares every blocked
pair of a demo population with Splink's own scores).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple

import jellyfish

from .model import TrainedModel

Row = Mapping[str, Any]
Level = int  # index among a comparison's non-null levels, in settings order; -1 = no data

#: Splink clamps m and u to this before taking log2 (splink.internals.comparison_level).
M_U_CLAMP_MIN = 1e-300
#: Splink's default: the term frequency never falls below this in the adjustment.
TF_MINIMUM_U_VALUE = 0.0
NO_DATA = "no data"

jaro_winkler = jellyfish.jaro_winkler_similarity
levenshtein = jellyfish.levenshtein_distance
damerau_levenshtein = jellyfish.damerau_levenshtein_distance


def _eq(a: Any, b: Any) -> bool:
    """SQL ``a = b`` taken as a CASE WHEN condition: NULL is not true."""
    return a is not None and b is not None and a == b


def _intersects(a: Any, b: Any) -> bool:
    return a is not None and b is not None and not set(a).isdisjoint(b)


def _swapped(l: Row, r: Row) -> bool:
    """SWAPPED of settings.py: given name and surname entered the wrong way round."""
    fl, sl, fr, sr = l["first_given"], l["surname"], r["first_given"], r["surname"]
    return (_eq(fl, sr) and sl is not None and fl != sl) or (_eq(sl, fr) and sr is not None and fr != sr)


def _given_names(l: Row, r: Row) -> Level:
    fl, fr = l["first_given"], r["first_given"]
    if fl is None or fr is None:
        return -1
    gl, gr = l["given_names"], r["given_names"]
    if gl is not None and gr is not None and list(gl) == list(gr):  # DuckDB list equality: ordered
        return 0
    if fl == fr:
        return 1
    if (gr is not None and fl in gr) or (gl is not None and fr in gl):
        return 2
    if _intersects(gl, gr):
        return 3
    if _swapped(l, r):
        return 4
    if jaro_winkler(fl, fr) >= 0.88:
        return 5
    return 6


def _surname(l: Row, r: Row) -> Level:
    sl, sr = l["surname"], r["surname"]
    if sl is None or sr is None:
        return -1
    if sl == sr:
        return 0
    if _intersects(l["surnames"], r["surnames"]):
        return 1
    if jaro_winkler(sl, sr) >= 0.9:
        return 2
    if _swapped(l, r):
        return 3
    return 4


def _names_unrelated(l: Row, r: Row) -> bool:
    """``NOT (names_related)`` where NOT NULL is not true: every part must be known and false."""
    gl, gr, fl, fr = l["given_names"], r["given_names"], l["first_given"], r["first_given"]
    if gl is None or gr is None or fl is None or fr is None:
        return False
    return set(gl).isdisjoint(gr) and jaro_winkler(fl, fr) < 0.88


def _birth_date(l: Row, r: Row) -> Level:
    bl, br = l["birth_date"], r["birth_date"]
    if bl is None or br is None:
        return -1
    if bl == br:
        return 0 if _names_unrelated(l, r) else 1
    if _eq(bl, r["birth_date_swapped"]) or _eq(l["birth_date_swapped"], br):
        return 2
    if levenshtein(bl, br) <= 1:
        return 3
    return 4


def _hetu(l: Row, r: Row) -> Level:
    if l["hetu_any"] is None or r["hetu_any"] is None:
        return -1
    hl, hr = l["hetu"], r["hetu"]
    if _eq(hl, hr):
        return 0
    if l["hetu_any"] == r["hetu_any"]:
        return 1
    if hl is not None and hr is not None:
        return 2
    return 3


def _sex(l: Row, r: Row) -> Level:
    if l["sex"] is None or r["sex"] is None:
        return -1
    return 0 if l["sex"] == r["sex"] else 1


def _no_contact(x: Row) -> bool:
    return (x["phone"] is None and x["email"] is None and x["address_key"] is None and x["street"] is None
            and x["postcode"] is None)


def _contact(l: Row, r: Row) -> Level:
    if _no_contact(l) or _no_contact(r):
        return -1
    phone, email, address = _eq(l["phone"], r["phone"]), _eq(l["email"], r["email"]), \
        _eq(l["address_key"], r["address_key"])
    if (phone and l["phone_holders"] == 1) or (email and l["email_holders"] == 1):
        return 0
    if address and l["address_holders"] == 1:
        return 1
    if phone or email or address:
        return 2
    if l["street"] is not None and r["street"] is not None and jaro_winkler(l["street"], r["street"]) >= 0.92:
        return 3
    if _eq(l["postcode"], r["postcode"]):
        return 4
    return 5


def _city(l: Row, r: Row) -> Level:
    if l["city"] is None or r["city"] is None:
        return -1
    return 0 if l["city"] == r["city"] else 1


def _other_id(l: Row, r: Row) -> Level:
    ol, orr = l["other_id"], r["other_id"]
    if ol is None or orr is None:
        return -1
    if ol == orr:
        return 0
    if damerau_levenshtein(ol, orr) <= 1:
        return 1
    return 2


@dataclass(frozen=True)
class ComparisonSpec:
    name: str
    level_of: Callable[[Row, Row], Level]
    levels: int  # non-null levels, the else level included
    tf_level: int | None = None  # the exact-match level carrying a term-frequency adjustment
    tf_column: str | None = None


#: The comparisons of matching.settings, in order.
COMPARISONS = (
    ComparisonSpec("given_names", _given_names, 7, 1, "first_given"),
    ComparisonSpec("surname", _surname, 5, 0, "surname"),
    ComparisonSpec("birth_date", _birth_date, 5),
    ComparisonSpec("hetu", _hetu, 4),
    ComparisonSpec("sex", _sex, 2),
    ComparisonSpec("contact", _contact, 6, 4, "postcode"),
    ComparisonSpec("city", _city, 2, 0, "city"),
    ComparisonSpec("other_id", _other_id, 3),
)


class ModelMismatch(ValueError):
    """The trained model's comparisons are not the ones this scorer implements."""


class PairScore(NamedTuple):
    match_weight: float
    match_probability: float
    levels: list[Level]  # per comparison
    weights: list[float]  # per comparison, term-frequency adjustment included


def probability(match_weight: float) -> float:
    """Splink's numerically stable 2^w / (1 + 2^w)."""
    if match_weight >= 0:
        return 1.0 / (1.0 + 2.0 ** -match_weight)
    if match_weight == -math.inf:
        return 0.0
    bf = 2.0 ** match_weight
    return bf / (1.0 + bf)


def _level_weight(m: float, u: float) -> float:
    return math.log2(max(m, M_U_CLAMP_MIN) / max(u, M_U_CLAMP_MIN))


class RealtimeScorer:
    """Scores feature-row pairs with a trained model's parameters and frozen term frequencies."""

    def __init__(self, model: TrainedModel) -> None:
        params = model.parameters
        comps = params["comparisons"]
        names = [c.name for c in COMPARISONS]
        if set(comps) != set(names):  # (a JSONB document does not keep the key order)
            raise ModelMismatch(f"the model's comparisons {sorted(comps)} are not {sorted(names)}: "
                                "matching/realtime.py no longer fits matching/settings.py")
        self.model = model
        lam = params["probability_two_random_records_match"]
        self.prior = math.log2(lam / (1 - lam))
        self.labels: list[list[str]] = []
        self.level_weights: list[list[float]] = []
        self.tf: list[tuple[int, Mapping[str, float], float, str] | None] = []
        for spec in COMPARISONS:
            levels = comps[spec.name]
            if len(levels) != spec.levels:
                raise ModelMismatch(f"comparison {spec.name} has {len(levels)} levels in the model, "
                                    f"{spec.levels} here: matching/realtime.py no longer fits matching/settings.py")
            self.labels.append([lv["label"] for lv in levels])
            self.level_weights.append([_level_weight(lv["m"], lv["u"]) for lv in levels])
            if spec.tf_column is None:
                self.tf.append(None)
            else:
                u_exact = levels[spec.tf_level]["u"]  # type: ignore[index]
                table = model.tf_tables.get(spec.tf_column, {})
                self.tf.append((spec.tf_level, table, math.log2(u_exact), spec.tf_column))  # type: ignore[arg-type]
        self._plan = [(spec.level_of, self.level_weights[i], self.tf[i]) for i, spec in enumerate(COMPARISONS)]

    def score(self, l: Row, r: Row) -> PairScore:
        """Score the pair (l, r). Orientation matters only for the holder counts, read from l."""
        # Splink's sum: prior + mw_1 + mw_tf_adj_1 + mw_2 + ...; adding the 0.0 of a null
        # level or of a level without adjustment changes nothing, so it is skipped.
        total = self.prior
        levels: list[Level] = []
        weights: list[float] = []
        for level_of, level_weights, tf in self._plan:
            level = level_of(l, r)
            levels.append(level)
            if level < 0:
                weights.append(0.0)
                continue
            weight = level_weights[level]
            total += weight
            if tf is not None and level == tf[0]:
                adj = self._tf_adjustment(tf, l[tf[3]], r[tf[3]])
                total += adj
                weight += adj
            weights.append(weight)
        return PairScore(total, probability(total), levels, weights)

    @staticmethod
    def _tf_adjustment(tf: tuple[int, Mapping[str, float], float, str], left: Any, right: Any) -> float:
        _level, table, log2_u_exact, _column = tf
        tf_l = table.get(str(left)) if left is not None else None
        tf_r = table.get(str(right)) if right is not None else None
        if tf_l is None and tf_r is None:
            return 0.0
        a = tf_l if tf_l is not None else tf_r
        b = tf_r if tf_r is not None else tf_l
        return log2_u_exact - math.log2(max(a, b, TF_MINIMUM_U_VALUE))  # type: ignore[type-var]

    def label(self, comparison: int, level: Level) -> str:
        return NO_DATA if level < 0 else self.labels[comparison][level]

    def gamma(self, comparison: int, level: Level) -> int:
        """Splink's comparison vector value of a level (-1 = null level)."""
        return -1 if level < 0 else len(self.labels[comparison]) - 1 - level

    def explain(self, s: PairScore) -> dict[str, Any]:
        """The explanation format of matching.scoring: prior and [name, label, weight] per comparison."""
        return {
            "prior": round(self.prior, 3),
            "comparisons": [[spec.name, self.label(i, lv), round(w, 3)]
                            for i, (spec, lv, w) in enumerate(zip(COMPARISONS, s.levels, s.weights, strict=True))],
        }
