"""Stable golden ids across runs, as plain functions over plain data.

When clusters change, the golden record that keeps most of its source records
keeps its id; a merge keeps the survivor's id and redirects the other; a split
keeps the id on the larger part and mints new ids for the rest; an emptied
golden record is retired. New ids are derived from the cluster's first member
so that a re-run after a crash mints the same ids, and are never reused.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Mapping


@dataclass
class IdAssignment:
    golden_of: dict[int, str | None]  # cluster key -> kept golden id (None: mint one)
    merged_into: dict[str, int] = field(default_factory=dict)  # old golden -> cluster key it went to
    retired: set[str] = field(default_factory=set)
    split_from: dict[int, str] = field(default_factory=dict)  # minted cluster key -> golden it left


def assign(clusters: Mapping[int, list[int]], links: Mapping[int, str], active: set[str]) -> IdAssignment:
    """Match new clusters (key -> record ids) to the active golden ids their records had."""
    overlap: list[tuple[int, str, int]] = []  # (shared records, golden, cluster)
    went_to: dict[str, Counter[int]] = {}
    for key, members in clusters.items():
        counts = Counter(links[r] for r in members if links.get(r) in active)
        for golden, n in counts.items():
            overlap.append((n, golden, key))
            went_to.setdefault(golden, Counter())[key] += n
    # Most shared records first; ties by golden id then cluster key, so the result is deterministic.
    overlap.sort(key=lambda t: (-t[0], t[1], t[2]))
    golden_of: dict[int, str | None] = {key: None for key in clusters}
    taken: set[str] = set()
    for _n, golden, key in overlap:
        if golden in taken or golden_of[key] is not None:
            continue
        golden_of[key] = golden
        taken.add(golden)
    result = IdAssignment(golden_of=golden_of)
    for golden in sorted(active - taken):
        targets = went_to.get(golden)
        if targets:
            # Its records live on in another golden record: a merge into the one that took most.
            key = min(targets, key=lambda k: (-targets[k], k))
            result.merged_into[golden] = key
        else:
            result.retired.add(golden)
    for key, kept in golden_of.items():
        if kept is None:
            origin = Counter(links[r] for r in clusters[key] if links.get(r) in taken)
            if origin:
                result.split_from[key] = min(origin, key=lambda g: (-origin[g], g))
    return result


# Hex digits spelled with 16 letters: an id without digits can never look like a
# HETU (six digits, a sign, three digits), so the API can refuse every HETU-shaped
# URL, in any case, without ever refusing a golden id.
_LETTERS = str.maketrans("0123456789abcdef", "bcdfghjkmnpqrstv")


def mint_id(seed: str, exists: Callable[[str], bool]) -> str:
    """An opaque id derived from ``seed`` (the first member's source reference), never reused."""
    n = 0
    while True:
        digest = hashlib.sha256(f"{seed}#{n}".encode("utf-8")).hexdigest()[:20]
        candidate = f"G{digest.translate(_LETTERS)}"
        if not exists(candidate):
            return candidate
        n += 1
