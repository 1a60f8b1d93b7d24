"""Connectors: read the city's source systems into :class:`mdm._typing.SourceRecordIn` objects.

Importing the package registers every connector in :data:`CONNECTORS`; use
:func:`make_connector` to build one from a ``[[sources]]`` table.
"""
from .base import CONNECTORS, Connector, ConnectorError, ConnectorWarning, StoredRecord, make_connector
# Importing the modules registers their connector classes.
from . import fhir_api, fhir_bundle, fhir_ndjson, foli_csv  # noqa: F401
from . import koha_api, koha_csv, mapped_csv, oneroster_csv  # noqa: F401

__all__ = ["CONNECTORS", "Connector", "ConnectorError", "ConnectorWarning", "StoredRecord",
           "make_connector"]
