"""PAT-MDM standardisation rules.

One module per identifier type (``rules.hetu``, ``rules.phone``, ...), each with
``normalise(raw, **kw) -> mdm._typing.Normalised``; ``rules.names``,
``rules.addresses`` and ``rules.dates`` for the other fields; and
``rules.standardise.standardise_record`` tying them together for a connector
record. This package only re-exports the three entry points most callers need.
"""
from __future__ import annotations

from rules.identifiers import normalise_identifier
from rules.names import fold
from rules.standardise import standardise_record

__all__ = ["fold", "normalise_identifier", "standardise_record"]
