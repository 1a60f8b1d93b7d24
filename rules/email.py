"""E-mail address normalisation.

Deliberately a *basic* syntax check, not RFC 5322: the goal is a stable
comparison key and a data-quality flag for obvious garbage (``"-"``,
``"ei ole"``, ``"matti.virtanen"``), not deliverability. The whole address is
lower-cased: the local part is case-sensitive in theory, but no mail system the
city deals with treats it so, and sources differ in case for the same person.

Like phones, e-mails are shared within families: evidence, never proof.
"""
from __future__ import annotations

import re

from mdm._typing import Normalised

__all__ = ["normalise"]

_EMPTY = Normalised(value=None, quality="invalid", error="email.empty")

# local@domain.tld: exactly one "@", no whitespace, a dot inside the domain with
# non-empty labels on both sides, no leading/trailing dot in the local part.
_EMAIL_RE = re.compile(
    r"^(?!\.)[^@\s]+(?<!\.)@(?:[^@\s.]+\.)+[^@\s.]+$"
)


def normalise(raw: str | None, **_: object) -> Normalised:
    """Trim and lower-case an e-mail address; check its basic syntax.

    A ``mailto:`` prefix and surrounding angle brackets (``<a@b.fi>``, copied
    from mail clients) are removed. ``details["domain"]`` is the domain part.

    Error codes: ``email.empty``, ``email.format``.
    """
    if raw is None:
        return _EMPTY
    value = str(raw).strip().lower()
    if value.startswith("mailto:"):
        value = value[7:].strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    if not value:
        return _EMPTY
    if _EMAIL_RE.match(value) is None or ".." in value:
        # Inner whitespace is kept: removing it could make the kept value look
        # valid ("a b@c.fi" -> "ab@c.fi") and hide why it was flagged.
        return Normalised(value=value, quality="invalid", error="email.format")
    return Normalised(value=value, details={"domain": value.rpartition("@")[2]})
