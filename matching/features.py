"""One Splink input row per current source record, built from the standardised JSON.

The columns are what the comparisons in :mod:`matching.settings` need. Beside
plain values, each phone, e-mail and address carries the number of *distinct
people* that seem to hold it (``*_holders``): a family phone held by a parent
and two children counts 3, the same person's phone on three records counts 1.
That is what lets a shared value count far less than a private one. Two
records are taken to be the same holder when they share a given name and their
birth dates agree (or one is missing) — a father and a son named after him
differ in birth date, twins differ in given names.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping

import pandas as pd
import pyarrow as pa

STRONG_HETU_TYPES = ("hetu", "kela_card")
WEAK_HETU_TYPES = ("hetu", "kela_card", "temporary_id")
#: Above this many holders a value is too common to block on (an office phone, a default value).
MAX_BLOCKING_HOLDERS = 12
#: Above this many records the holder count is not worked out pair by pair.
MAX_GROUP_FOR_PAIRS = 60

COLUMNS = [
    "unique_id", "source_dataset", "given_names", "first_given", "calling", "surname", "surnames",
    "birth_date", "birth_date_swapped", "sex", "hetu", "hetu_any", "phone", "phone_holders",
    "phone_block", "email", "email_holders", "email_block", "address_key", "address_holders",
    "address_block", "postcode", "other_id", "street", "city",
]

LIST_COLUMNS = ("given_names", "surnames")
HOLDER_COLUMNS = ("phone_holders", "email_holders", "address_holders")
#: The frame's columns as Arrow types: the rest are text (or entirely null).
ARROW_SCHEMA = pa.schema([
    (c, pa.int64() if c == "unique_id" or c in HOLDER_COLUMNS
     else pa.list_(pa.string()) if c in LIST_COLUMNS else pa.string())
    for c in COLUMNS])


def _swap_day_month(iso: str | None) -> str | None:
    if not iso or len(iso) != 10:
        return None
    year, month, day = iso[:4], iso[5:7], iso[8:10]
    if day == month or int(day) > 12:
        return None
    return f"{year}-{day}-{month}"


def _first(items: Iterable[Any]) -> Any:
    for item in items:
        return item
    return None


def record_features(record_id: int, source: str, std: Mapping[str, Any]) -> dict[str, Any]:
    """The matching columns of one record (without the holder counts)."""
    names = std.get("names") or []
    official = _first(n for n in names if n.get("use") == "official") or _first(names) or {}
    given: list[str] = []
    surnames: list[str] = []
    for n in names:
        for g in n.get("given_list") or []:
            if g not in given:
                given.append(g)
        for part in [n.get("family_folded"), *(n.get("family_parts") or [])]:
            if part and part not in surnames:
                surnames.append(part)
    calling = official.get("calling_folded")
    if calling and calling not in given:
        given.append(calling)
    first_given = (official.get("given_list") or [None])[0] or calling

    idents = std.get("identifiers") or []
    hetu = _first(
        i["value"] for i in idents
        if i["type"] in STRONG_HETU_TYPES and i.get("quality") == "valid" and i.get("value")
    )
    hetu_any = hetu or _first(
        i["value"] for i in idents if i["type"] in WEAK_HETU_TYPES and i.get("value")
    )

    def best(kind: str) -> str | None:
        usable = [i for i in idents if i["type"] == kind and i.get("quality") == "valid" and i.get("value")]
        # An active mobile beats a landline: it is the one a person keeps.
        usable.sort(key=lambda i: (i.get("status") != "active", not (i.get("details") or {}).get("mobile")))
        return usable[0]["value"] if usable else None

    addresses = std.get("addresses") or []
    home = _first(a for a in addresses if a.get("use", "home") == "home") or _first(addresses) or {}
    birth = std.get("birth_date") if not std.get("birth_date_error") else None
    return {
        "unique_id": record_id,
        "source_dataset": source,
        "given_names": given,
        "first_given": first_given,
        "calling": calling,
        "surname": official.get("family_folded"),
        "surnames": surnames,
        "birth_date": birth,
        "birth_date_swapped": _swap_day_month(birth),
        "sex": std.get("sex"),
        "hetu": hetu,
        "hetu_any": hetu_any,
        "phone": best("phone"),
        "email": best("email"),
        "address_key": home.get("key"),
        # Kept even when not a Finnish 5-digit code: a foreign or mapped source's codes still compare.
        "postcode": home.get("postal_code"),
        # A generic identifier of a mapped source (e.g. FEBRL's social security number).
        "other_id": _first(i["value"] for i in idents if i["type"] == "other" and i.get("value")),
        "street": home.get("street_folded"),
        "city": home.get("city_folded"),
    }


def _holders(group: list[dict[str, Any]]) -> int:
    """Distinct people among records holding one value (see the module docstring)."""
    n = len(group)
    if n == 1:
        return 1
    if n > MAX_GROUP_FOR_PAIRS:
        return n
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in range(n):
        gi, bi = set(group[i]["given_names"]), group[i]["birth_date"]
        for j in range(i + 1, n):
            bj = group[j]["birth_date"]
            if (bi is None or bj is None or bi == bj) and gi & set(group[j]["given_names"]):
                parent[find(i)] = find(j)
    return len({find(i) for i in range(n)})


def add_holder_counts(rows: list[dict[str, Any]]) -> None:
    """Fill ``*_holders`` and ``*_block`` for phone, email and address, in place."""
    for column in ("phone", "email", "address_key"):
        prefix = column.split("_")[0]
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            if row[column]:
                groups[row[column]].append(row)
        counts = {value: _holders(group) for value, group in groups.items()}
        for row in rows:
            value = row[column]
            holders = counts.get(value) if value else None
            row[f"{prefix}_holders"] = holders
            row[f"{prefix}_block"] = value if holders is not None and holders <= MAX_BLOCKING_HOLDERS else None


def build_frame(records: Iterable[tuple[int, str, Mapping[str, Any]]]) -> pd.DataFrame:
    """The Splink input table from ``(record id, source name, standardised)`` triples."""
    return frame_from_rows([record_features(rid, source, std) for rid, source, std in records])


def frame_from_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The Splink input table from :func:`record_features` rows (holder counts added here)."""
    add_holder_counts(rows)
    for row in rows:  # Splink's null levels want NULL, not an empty list
        row["given_names"] = row["given_names"] or None
        row["surnames"] = row["surnames"] or None
    frame = pd.DataFrame.from_records(rows, columns=COLUMNS)
    for col in ("phone_holders", "email_holders", "address_holders"):
        frame[col] = frame[col].astype("Int64")
    return frame


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table of :data:`ARROW_SCHEMA`: about a third of its memory."""
    return pa.Table.from_pandas(frame[COLUMNS], schema=ARROW_SCHEMA, preserve_index=False)


def frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    """The frame back from Arrow exactly as :func:`frame_from_rows` builds it (same types, same hashes)."""
    frame = table.drop(list(LIST_COLUMNS)).to_pandas()
    for col in LIST_COLUMNS:  # Python lists, as built, not numpy arrays
        frame[col] = pd.Series(table.column(col).to_pylist(), dtype=object)
    for col in HOLDER_COLUMNS:
        frame[col] = frame[col].astype("Int64")
    frame["unique_id"] = frame["unique_id"].astype("int64")
    return frame[COLUMNS]
