"""Person name standardisation and the shared text folding.

Names are kept as written (for display and for the steward) next to comparison
forms. The comparison forms must make the variants the sources really produce
meet:

* old registry parts hold names in UPPER CASE and without ä/ö/å
  (``MAKINEN`` for ``Mäkinen``) -> case-fold and fold diacritics away, both
  sides the same way;
* ``firstname`` may hold all given names or only the calling name -> a list of
  given names, so matching can test membership;
* hyphenated given names (``Anna-Liisa``) are *one* name; hyphenated surnames
  (``Virtanen-Korhonen``) are a double-barrelled name whose parts are matched
  separately (people drop one part in some systems).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

__all__ = ["fold", "standardise_name"]

# Letters that NFKD does not decompose into base letter + combining mark.
_SPECIAL = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "þ": "th",
        "ı": "i",
        # apostrophes vanish (O'Brien = OBrien); ':' too (S:t Karins = St Karins)
        "'": "",
        "’": "",
        "‘": "",
        "`": "",
        "´": "",
        ":": "",
        # every dash variant is the hyphen that joins name parts
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "–": "-",
        "—": "-",
        "−": "-",
    }
)
# Anything that is not a letter, digit, hyphen or space becomes a space.
_NON_WORD_RE = re.compile(r"[^\w\- ]+|_")
_SPACES_RE = re.compile(r"\s+")
# "Anna - Liisa", "Anna- Liisa" -> "anna-liisa"; runs of hyphens -> one.
_HYPHEN_RE = re.compile(r"\s*-[\s-]*")


@lru_cache(maxsize=1 << 16)
def fold(text: str | None) -> str:
    """Comparison form of a name or street: case-folded, diacritics folded
    (ä->a, ö->o, å->a, é->e, ü->u, ø->o, ß->ss, ...), punctuation removed,
    whitespace collapsed, hyphens kept as joiners (``"Anna - Liisa"`` ->
    ``"anna-liisa"``). ``None`` and blank give ``""``.

    Cached: the same few thousand given names, surnames and street names make
    up most of a million records.
    """
    if not text:
        return ""
    s = text.casefold().translate(_SPECIAL)
    if not s.isascii():
        s = "".join(
            c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)
        )
        # NFKD may produce characters that casefold again (e.g. compatibility forms)
        s = s.casefold().translate(_SPECIAL)
    s = _NON_WORD_RE.sub(" ", s)
    if "-" in s:
        s = _HYPHEN_RE.sub("-", s)
    s = _SPACES_RE.sub(" ", s).strip(" -")
    return s


def _clean(text: str | None) -> str | None:
    """Original form for display: stripped, inner whitespace collapsed, None if blank."""
    if text is None:
        return None
    s = " ".join(str(text).split())
    return s or None


def standardise_name(
    given: str | None,
    family: str | None,
    calling: str | None = None,
    use: str = "official",
) -> dict[str, Any]:
    """Standardise one name.

    Returns a JSON-serialisable dict:

    * ``use``; ``given``, ``family``, ``calling``: originals, whitespace-cleaned
      (``None`` if blank);
    * ``given_folded``: all given names folded (``"anna-liisa maria"``);
    * ``given_list``: folded given names (``["anna-liisa", "maria"]``); a
      hyphenated name stays one entry;
    * ``calling_folded``: folded calling name or ``None`` (not guessed: a
      source that knows only one given name may hold the calling name in
      ``given``, which matching handles via ``given_list`` membership);
    * ``family_folded``: folded surname (``"virtanen-korhonen"``);
    * ``family_parts``: the surname's parts split on hyphens and spaces
      (``["virtanen", "korhonen"]``; ``["virtanen"]`` for a simple one).
    """
    given_c = _clean(given)
    family_c = _clean(family)
    calling_c = _clean(calling)
    given_folded = fold(given_c)
    family_folded = fold(family_c)
    return {
        "use": use,
        "given": given_c,
        "family": family_c,
        "calling": calling_c,
        "given_folded": given_folded or None,
        "given_list": given_folded.split() if given_folded else [],
        "calling_folded": fold(calling_c) or None,
        "family_folded": family_folded or None,
        "family_parts": family_folded.replace("-", " ").split() if family_folded else [],
    }
