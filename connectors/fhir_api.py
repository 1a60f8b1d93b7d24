"""A FHIR R4 server ("fhir-api"): ``GET {url}/Patient?_count=N[&_lastUpdated=gt{watermark}]``.

Options: ``url`` (the FHIR base, required), ``count`` (page size, 100), plus the
HTTP options of :mod:`connectors._http` (``retries``, ``timeout``, ``backoff``,
basic auth or OAuth2 client credentials from environment variables).

Pages are followed through ``Bundle.link[relation=next]`` (relative links are
resolved against the page URL; a link seen before ends the walk). Incremental
(``full_export = False``): Patients not returned are unchanged, not deleted. A
Patient seen twice (changed while paging) is yielded once; the repeat is
rejected as a duplicate and, if newer, the next watermark stays below it.
"""
from __future__ import annotations

import json
import urllib.parse
from typing import Any, Iterator

from mdm._typing import RejectedRow, SourceRecordIn

from ._http import HttpClient
from .base import Connector, SeenIds, WatermarkTracker, clean
from .fhir import MalformedResource, patient_records
from .fhir_bundle import bundle_entries


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and clean(link.get("url")):
            return str(link["url"]).strip()
    return None


class FhirApiConnector(Connector):
    """Patients from a FHIR server search, following next links."""

    kind = "fhir-api"
    full_export = False

    def read(self, watermark: str | None) -> Iterator[SourceRecordIn | RejectedRow]:
        base = clean(self.options.get("url"))
        if not base:
            raise self.error("option 'url' (the FHIR base URL) is required")
        count = self.number_option("count", 100, integer=True) or 100
        params: dict[str, Any] = {"_count": count}
        if watermark:
            params["_lastUpdated"] = f"gt{watermark}"
        client = HttpClient(self, accept="application/fhir+json")
        url: str | None = base.rstrip("/") + "/Patient?" + urllib.parse.urlencode(params)
        seen: set[str] = set()
        tracker, seen_ids = WatermarkTracker(watermark), SeenIds()
        page = 0
        while url and url not in seen:
            seen.add(url)
            page += 1
            bundle, _ = client.get_json(url)
            try:
                resources = bundle_entries(bundle)
            except MalformedResource as exc:
                raise self.error(f"page {page} of {base}/Patient: {exc}") from None
            for index, resource in resources:
                ref = f"{base}/Patient page {page} entry[{index}]"
                raw = json.dumps(resource, ensure_ascii=False)
                try:
                    records = patient_records(resource, ref)
                except MalformedResource as exc:
                    yield RejectedRow(row_ref=ref, reason=str(exc), raw=raw)
                    continue
                first = records[0]
                duplicate = seen_ids.check(first.source_id, first.updated_at, f"the copy on page {page}")
                if duplicate:  # its guardian-contact records are repeats too
                    yield RejectedRow(row_ref=ref, reason=duplicate, raw=raw)
                    continue
                tracker.see(records[0].updated_at)
                yield from records
            nxt = _next_link(bundle)
            url = urllib.parse.urljoin(url, nxt) if nxt else None
        self.new_watermark = seen_ids.watermark(tracker)
