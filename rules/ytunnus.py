"""Y-tunnus (Finnish business ID) normalisation via ``stdnum.fi.ytunnus``.

Normal form is the official presentation ``NNNNNNN-C`` (``0204819-8``); stdnum's
compact strips separators and a leading ``FI`` (the VAT form ``FI02048198``), so
both written forms meet in one value.
"""
from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError
from stdnum.fi import ytunnus as _stdnum_ytunnus

from mdm._typing import Normalised

__all__ = ["normalise"]

_EMPTY = Normalised(value=None, quality="invalid", error="ytunnus.empty")


def normalise(raw: str | None, **_: object) -> Normalised:
    """Normalise a Y-tunnus to ``NNNNNNN-C``.

    Error codes: ``ytunnus.empty``, ``ytunnus.format`` (not digits),
    ``ytunnus.length`` (not 8 digits; a dropped leading zero is *not* guessed
    back), ``ytunnus.checksum``. An invalid value is kept in stdnum's compact
    form (digits only, FI prefix removed).
    """
    if raw is None:
        return _EMPTY
    try:
        compact = _stdnum_ytunnus.compact(str(raw))
    except ValidationError:
        return Normalised(value=str(raw), quality="invalid", error="ytunnus.format")
    if not compact:
        return _EMPTY
    try:
        _stdnum_ytunnus.validate(compact)
    except InvalidChecksum:
        return Normalised(value=compact, quality="invalid", error="ytunnus.checksum")
    except InvalidLength:
        return Normalised(value=compact, quality="invalid", error="ytunnus.length")
    except ValidationError:
        return Normalised(value=compact, quality="invalid", error="ytunnus.format")
    return Normalised(value=_stdnum_ytunnus.format(compact))
