"""Pairwise evaluation of a clustering against a truth file."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping


@dataclass
class Evaluation:
    records: int
    predicted_pairs: int
    true_pairs: int
    true_positive_pairs: int
    precision: float
    recall: float
    f1: float
    household_false_pairs: int  # predicted pairs joining two different people of one household
    household_false_share: float  # of predicted pairs
    records_in_review: int
    review_share: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _pairs(counter: Counter) -> int:  # type: ignore[type-arg]
    return sum(n * (n - 1) // 2 for n in counter.values())


def evaluate(
    predicted: Mapping[str, str],
    truth_person: Mapping[str, str],
    truth_household: Mapping[str, str] | None = None,
    in_review: Iterable[str] = (),
) -> Evaluation:
    """Pairwise precision/recall/F1 over the records present in both mappings.

    ``predicted`` maps a record key to its cluster, ``truth_person`` to its
    person id; pairs are counted from group sizes, never enumerated.
    """
    keys = [k for k in predicted if k in truth_person]
    pred = Counter(predicted[k] for k in keys)
    true = Counter(truth_person[k] for k in keys)
    both = Counter((predicted[k], truth_person[k]) for k in keys)
    pp, tp_all, tp = _pairs(pred), _pairs(true), _pairs(both)
    precision = tp / pp if pp else 1.0
    recall = tp / tp_all if tp_all else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    hh_false = 0
    if truth_household:
        hh_keys = [k for k in keys if truth_household.get(k)]
        same_hh = Counter((predicted[k], truth_household[k]) for k in hh_keys)
        same_hh_person = Counter((predicted[k], truth_household[k], truth_person[k]) for k in hh_keys)
        hh_false = _pairs(same_hh) - _pairs(same_hh_person)
    review = {k for k in in_review if k in truth_person}
    return Evaluation(
        records=len(keys),
        predicted_pairs=pp,
        true_pairs=tp_all,
        true_positive_pairs=tp,
        precision=round(precision, 6),
        recall=round(recall, 6),
        f1=round(f1, 6),
        household_false_pairs=hh_false,
        household_false_share=round(hh_false / pp, 6) if pp else 0.0,
        records_in_review=len(review),
        review_share=round(len(review) / len(keys), 6) if keys else 0.0,
    )
