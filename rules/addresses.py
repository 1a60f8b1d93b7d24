"""Finnish postal address standardisation.

A Finnish street line is ``<street name> <house number> [<staircase>]
[<apartment>]``: ``Hämeenkatu 12 B 5`` (staircase B, apartment 5),
``Puistokatu 3 as 4`` / ``Kaskenkatu 5 as. 12`` (no staircase; *as* = asunto,
apartment), ``Linnankatu 10-12 C 34`` (house number range), ``Aurakatu 8 A``
(staircase only), ``PL 123`` (post office box). The parts are separated so
matching can compare "same building" and "same apartment" separately and so
``12 B 5`` / ``12 b 5`` / ``12B5`` meet in one comparison key.

A single letter after the house number is always read as the staircase, also
when written attached (``8a``): sources disagree on the spacing for the same
address, and a consistent key matters more here than the rare distinction
between house letter and staircase.
"""
from __future__ import annotations

import re
from typing import Any

from rules.names import fold

__all__ = ["MUNICIPALITY_CODES", "municipality_code", "standardise_address"]

# Statistics Finland municipality codes, keyed by folded Finnish and Swedish
# names and by postal localities of merged municipalities (a postal address
# says "Merimasku", the municipality is Naantali since 2009).
_MUNICIPALITIES: dict[str, tuple[str, ...]] = {
    "853": ("Turku", "Åbo"),
    "202": ("Kaarina", "S:t Karins", "St Karins", "Sankt Karins", "Piispanristi"),
    "680": ("Raisio", "Reso"),
    "529": ("Naantali", "Nådendal", "Merimasku", "Rymättylä", "Velkua"),
    "423": ("Lieto", "Lundo"),
    "704": ("Rusko", "Vahto"),
    "577": ("Paimio", "Pemar"),
    "445": ("Parainen", "Pargas"),
    "481": ("Masku",),
    "503": ("Mynämäki", "Virmo"),
    "538": ("Nousiainen", "Nousis"),
    "734": ("Salo",),
    "895": ("Uusikaupunki", "Nystad"),
    "091": ("Helsinki", "Helsingfors"),
    "049": ("Espoo", "Esbo"),
    "092": ("Vantaa", "Vanda"),
    "235": ("Kauniainen", "Grankulla"),
    "837": ("Tampere", "Tammerfors"),
    "398": ("Lahti", "Lahtis"),
    "564": ("Oulu", "Uleåborg"),
    "179": ("Jyväskylä",),
    "297": ("Kuopio",),
    "609": ("Pori", "Björneborg"),
}
#: folded municipality / locality name -> 3-digit municipality code
MUNICIPALITY_CODES: dict[str, str] = {
    fold(name): code for code, names in _MUNICIPALITIES.items() for name in names
}

# Countries for which the 5-digit postal code rule applies (folded). A missing
# country means Finland: every source is a Finnish city system.
_FINLAND = frozenset({"", "fi", "fin", "finland", "suomi", "246"})

# --- street line grammar (compiled once) -----------------------------------
# Apartment markers: as/as./asunto (fi), bst/bost/lgh (sv, bostad/lägenhet).
_APT_MARKER = r"(?:as(?:unto)?|bst|bost|lgh)\.?"
_STREET_RE = re.compile(
    r"""^
    (?P<street>.*?[^\d\s])\s*                       # street name: ends in a non-digit
    (?P<number>\d+(?:\s*-\s*\d+)?)                  # house number, or range 10-12
    (?:\s*(?P<stair>[^\W\d_])(?![^\W\d_.]))?        # staircase: one letter (not 'as')
    (?:\s*,?\s*""" + _APT_MARKER + r""")?          # optional apartment marker
    (?:\s*(?P<apt>\d+)\s*(?P<aptletter>[^\W\d_])?(?![^\W\d_]))?  # apartment 5 / 5 b
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PO_BOX_RE = re.compile(
    r"^(?:PL|P\.?\s*O\.?\s*Box|Postilokero|PB|Postbox|Box)\.?\s*(?P<box>\d+)\s*$",
    re.IGNORECASE,
)
# Abbreviated street types at the end of the name: "Hämeenk." -> "hameenkatu".
_ABBREV_RE = re.compile(r"(?<=\w)(k|t|kj)\.$")
_ABBREV = {"k": "katu", "t": "tie", "kj": "kuja"}
_POSTAL_PREFIX_RE = re.compile(r"^(?:FI|FIN)\s*-?\s*", re.IGNORECASE)
_SPACES_RE = re.compile(r"\s+")


def municipality_code(city: str | None) -> str | None:
    """3-digit municipality code for a city / postal locality name, or None."""
    if not city:
        return None
    return MUNICIPALITY_CODES.get(fold(city))


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    s = " ".join(str(text).split())
    return s or None


def _fold_street(name: str) -> str:
    s = name.strip()
    m = _ABBREV_RE.search(s.lower())
    if m is not None:
        s = s[: m.start()] + _ABBREV[m.group(1)]
    return fold(s)


def _postal(raw: str | None, finnish: bool) -> tuple[str | None, str | None]:
    """(postal code, error code or None)."""
    if raw is None:
        return None, None
    s = _SPACES_RE.sub("", str(raw))
    if not s:
        return None, None
    if not finnish:
        return s, None  # other countries' formats are not checked
    s = _POSTAL_PREFIX_RE.sub("", s)
    if len(s) == 5 and s.isascii() and s.isdigit():
        return s, None
    # A 4-digit value is usually "00100" through a spreadsheet; it is flagged,
    # not padded, because the steward must see it and a guess may be wrong.
    return s, "postal_code.format"


def standardise_address(
    street: str | None,
    postal_code: str | None,
    city: str | None,
    country: str | None = None,
    use: str = "home",
) -> dict[str, Any]:
    """Standardise one postal address into a JSON-serialisable dict.

    Keys: ``use``, ``raw`` (street line as written, whitespace-cleaned),
    ``street_name``, ``house_number``, ``staircase`` (upper case),
    ``apartment`` (digits plus a lower-case division letter, ``5b``),
    ``po_box``, ``parsed`` (False when the line did not follow the Finnish
    grammar; then ``street_name`` is the whole line), ``street_folded``,
    ``postal_code`` (string, leading zeros kept), ``postal_code_error``
    (``postal_code.format`` or None), ``city``, ``city_folded``,
    ``municipality`` (3-digit code or None), ``country`` and ``key``
    (``"hameenkatu 12 b 5|20100"``: folded street parts ``|`` postal code;
    None without a street line).
    """
    raw = _clean(street)
    country_c = _clean(country)
    finnish = fold(country_c) in _FINLAND
    street_name = house_number = staircase = apartment = po_box = None
    street_folded: str | None = None
    parsed = False
    key_parts: list[str] = []
    if raw is not None:
        # PO box first: "PL 123" would otherwise read as street "PL", number 123.
        pm = _PO_BOX_RE.match(raw)
        m = _STREET_RE.match(raw) if pm is None else None
        if pm is not None:
            parsed = True
            po_box = pm.group("box")
            key_parts = ["pl", po_box]
        elif m is not None:
            parsed = True
            street_name = m.group("street").strip().rstrip(",")
            house_number = _SPACES_RE.sub("", m.group("number"))
            if m.group("stair"):
                staircase = m.group("stair").upper()
            if m.group("apt"):
                apartment = m.group("apt") + (m.group("aptletter") or "").lower()
            street_folded = _fold_street(street_name) or None
            key_parts = [p for p in (street_folded, house_number, staircase, apartment) if p]
        else:
            # No recognisable house number: keep the whole line as the name
            # (rural addresses such as "Kotipolku" or "Mäkelän tila").
            street_name = raw
            street_folded = _fold_street(raw) or None
            key_parts = [street_folded] if street_folded else []
    pc, pc_error = _postal(postal_code, finnish)
    city_c = _clean(city)
    city_folded = fold(city_c) or None
    return {
        "use": use,
        "raw": raw,
        "street_name": street_name,
        "house_number": house_number,
        "staircase": staircase,
        "apartment": apartment,
        "po_box": po_box,
        "parsed": parsed,
        "street_folded": street_folded,
        "postal_code": pc,
        "postal_code_error": pc_error,
        "city": city_c,
        "city_folded": city_folded,
        "municipality": MUNICIPALITY_CODES.get(city_folded) if city_folded else None,
        "country": country_c,
        # No street line, no key: a postal code alone must never look like a
        # shared address to matching.
        "key": (" ".join(fold(p) for p in key_parts) + "|" + (pc or "")) if key_parts else None,
    }
