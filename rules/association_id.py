"""Finnish association register number normalisation via ``stdnum.fi.associationid``.

Normal form is the compact digit string (``123.123`` -> ``123123``): the dotted
form is presentation only, and a single form keeps matching simple.
"""
from __future__ import annotations

from stdnum.exceptions import InvalidComponent, InvalidLength, ValidationError
from stdnum.fi import associationid as _stdnum_associationid

from mdm._typing import Normalised

__all__ = ["normalise"]

_EMPTY = Normalised(value=None, quality="invalid", error="association_id.empty")


def normalise(raw: str | None, **_: object) -> Normalised:
    """Normalise an association register number.

    ``details["formatted"]`` is the dotted display form (``1.234``).

    Error codes: ``association_id.empty``, ``association_id.format`` (not
    digits), ``association_id.length`` (more than 6 digits),
    ``association_id.unregistered`` (a 1-2 digit number that was never issued).
    """
    if raw is None:
        return _EMPTY
    try:
        compact = _stdnum_associationid.compact(str(raw))
    except ValidationError:
        return Normalised(value=str(raw), quality="invalid", error="association_id.format")
    if not compact:
        return _EMPTY
    try:
        _stdnum_associationid.validate(compact)
    except InvalidLength:
        return Normalised(value=compact, quality="invalid", error="association_id.length")
    except InvalidComponent:
        return Normalised(value=compact, quality="invalid", error="association_id.unregistered")
    except ValidationError:
        return Normalised(value=compact, quality="invalid", error="association_id.format")
    return Normalised(value=compact, details={"formatted": _stdnum_associationid.format(compact)})
