"""Koha REST API ("koha-api"): ``GET {url}/api/v1/patrons``.

Options: ``url`` (the Koha base URL, required), ``per_page`` (100), plus the
HTTP options of :mod:`connectors._http` (``retries``, ``timeout``, ``backoff``,
``username_env``/``password_env`` or ``token_url``/``client_id_env``/
``client_secret_env``).

Paging uses ``_page``/``_per_page`` and stops at ``X-Total-Count`` (or at a
short page when the header is missing). With a watermark only patrons with
``updated_on`` after it are asked for (``q={"updated_on": {">": watermark}}``),
so the connector is incremental: patrons not returned are unchanged, not
deleted (``full_export = False``). A patron seen twice (it changed while we
paged) is yielded once; the repeat is rejected as a duplicate and, if it is
newer, the next watermark stays below it so the next read fetches it again.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from mdm._typing import AddressIn, IdentifierIn, NameIn, RejectedRow, RelationIn, SourceRecordIn

from ._http import HttpClient
from .base import Connector, SeenIds, WatermarkTracker, add_identifier, clean, map_sex, parse_datetime
from .koha_csv import split_attributes

_MAX_PAGES = 100_000  # a guard against a server that never stops answering full pages


class KohaApiConnector(Connector):
    """Koha patrons from the REST API; ``patron_id`` is the source id."""

    kind = "koha-api"
    full_export = False

    def read(self, watermark: str | None) -> Iterator[SourceRecordIn | RejectedRow]:
        base = clean(self.options.get("url"))
        if not base:
            raise self.error("option 'url' (the Koha base URL) is required")
        endpoint = base.rstrip("/") + "/api/v1/patrons"
        per_page = self.number_option("per_page", 100, integer=True) or 100
        client = HttpClient(self)
        tracker, seen = WatermarkTracker(watermark), SeenIds()
        for page in range(1, _MAX_PAGES + 1):
            params: dict[str, Any] = {"_page": page, "_per_page": per_page}
            if watermark:
                params["q"] = json.dumps({"updated_on": {">": watermark}})
            data, headers = client.get_json(endpoint, params)
            if not isinstance(data, list):
                raise self.error(f"{endpoint} page {page}: expected a JSON array, got {type(data).__name__}")
            for index, item in enumerate(data):
                ref = f"{endpoint}?_page={page}#{index}"
                if not isinstance(item, dict) or clean(item.get("patron_id")) is None:
                    yield RejectedRow(row_ref=ref, reason="patron without patron_id",
                                      raw=json.dumps(item, ensure_ascii=False))
                    continue
                try:
                    record = self.to_record(item, ref)
                except (TypeError, ValueError, AttributeError) as exc:
                    yield RejectedRow(row_ref=ref, reason=f"malformed patron: {exc}",
                                      raw=json.dumps(item, ensure_ascii=False))
                    continue
                duplicate = seen.check(record.source_id, record.updated_at, f"the copy on page {page}")
                if duplicate:
                    yield RejectedRow(row_ref=ref, reason=duplicate, raw=json.dumps(item, ensure_ascii=False))
                    continue
                tracker.see(record.updated_at)
                yield record
            total = self._total(headers)
            if len(data) < per_page or (total is not None and page * per_page >= total):
                break
        self.new_watermark = seen.watermark(tracker)

    @staticmethod
    def _total(headers: Any) -> int | None:
        try:
            return int(headers.get("X-Total-Count"))
        except (TypeError, ValueError):
            return None

    @staticmethod
    def to_record(item: dict[str, Any], ref: str) -> SourceRecordIn:
        get = lambda key: clean(item.get(key))  # noqa: E731 - short local accessor
        patron_id = get("patron_id") or ""
        identifiers: list[IdentifierIn] = []
        add_identifier(identifiers, "library_card", get("cardnumber"))
        add_identifier(identifiers, "email", get("email"))
        add_identifier(identifiers, "phone", get("sms_number"), use="mobile")
        add_identifier(identifiers, "phone", get("mobile"), use="mobile")
        add_identifier(identifiers, "phone", get("phone"))
        ext = item.get("extended_attributes") or []
        if not isinstance(ext, list) or not all(isinstance(a, dict) for a in ext):
            raise ValueError("extended_attributes is not a list of {type, value} objects")
        pairs = [(str(a.get("type", "")).strip().upper(), str(a.get("value") or "").strip()) for a in ext]
        attributes: dict[str, Any] = {}
        extra = split_attributes(pairs, identifiers)
        if extra:
            attributes["patron_attributes"] = extra
        for key, name in (("category_id", "category"), ("library_id", "branch"),
                          ("date_enrolled", "date_enrolled"), ("expiry_date", "expiry_date")):
            if get(key):
                attributes[name] = get(key)
        given = " ".join(p for p in (get("firstname"), get("middle_name")) if p) or None
        names = []
        if given or get("surname"):
            names.append(NameIn(given=given, family=get("surname"), calling=get("preferred_name")))
        addresses = []
        if get("address") or get("postal_code") or get("city"):
            addresses.append(AddressIn(street=get("address"), postal_code=get("postal_code"),
                                       city=get("city")))
        relations = []
        # The REST patron list does not carry guarantors; use one if a deployment adds it.
        guarantor = get("guarantor_id")
        if guarantor:
            relations.append(RelationIn("guardian_of", subject_source_id=guarantor,
                                        object_source_id=patron_id, label=get("guarantor_relationship")))
        return SourceRecordIn(
            source_id=patron_id,
            names=names,
            birth_date=get("date_of_birth"),
            sex=map_sex(get("gender")),
            identifiers=identifiers,
            addresses=addresses,
            relations=relations,
            attributes=attributes,
            updated_at=parse_datetime(get("updated_on")),
            raw=dict(item),
            row_ref=ref,
        )
