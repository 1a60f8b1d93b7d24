"""The synthetic Turku population generator (see the package docstring for the model).

Implementation notes
--------------------
* One ``random.Random(seed)`` drives everything, consumed in a fixed order, so a
  seed gives byte-identical output. The reference "today" is a fixed date
  (:data:`REFERENCE_DATE`, overridable), never the wall clock.
* Households are generated and written one at a time; per-person state lives
  only while its household is written. Global state is limited to uniqueness
  sets (HETU keys, e-mail addresses) and shuffled id pools.
* Source ids are drawn from shuffled pools (library, transit) or are random
  UUIDs (school, health), and every source file is sorted by its id, so the
  file order says nothing about households. Sorting is done by spooling rows
  into id-range buckets in a temporary folder and sorting one bucket at a time.

Module layout
-------------
* :mod:`.common` - reference date, :data:`SHARES`, HETU helpers and the random
  formatting helpers (phones, e-mails, addresses, typos, birth dates).
* :mod:`.population` - persons and households (the population model).
* :mod:`.writers` - the Koha / OneRoster / FHIR / Föli writers, id pools and spools.
* this module - the generator state, the run loop, ``manifest.json`` /
  ``mdm.toml`` and the public :func:`generate`.
"""
from __future__ import annotations

import csv
import json
import random
import shutil
import tempfile
import uuid
from datetime import date, datetime
from pathlib import Path

from . import names as N
from .common import (  # noqa: F401  (re-exported: mdm.demo_data.generator.*)
    HETU_CHARS, REFERENCE_DATE, SHARES, SOURCES, _MOBILE_PREFIXES, fold, hetu_check, make_hetu,
)
from .population import _PopulationMixin
from .writers import (  # noqa: F401
    FOLI_COLUMNS, HETU_SYSTEM, KOHA_COLUMNS, ONEROSTER_DEMOGRAPHIC_COLUMNS, ONEROSTER_ORG_COLUMNS,
    ONEROSTER_USER_COLUMNS, ROLE_SYSTEM, SECURITY_SYSTEM, TEMP_ID_SYSTEMS, TRUTH_COLUMNS, _IdPool,
    _Spool, _WritersMixin,
)


class _Generator(_WritersMixin, _PopulationMixin):
    """One generator run: all state, driven by one ``random.Random(seed)``."""

    def __init__(self, out: Path, persons: int, seed: int, ref: date) -> None:
        if persons < 0:
            raise ValueError("persons must be >= 0")
        self.out, self.persons, self.seed, self.ref = out, persons, seed, ref
        self.rng = random.Random(seed)
        self.ref_ord = ref.toordinal()
        self.ref_dt = datetime(ref.year, ref.month, ref.day, 23, 59, 59)
        self.hits = {k: 0 for k in SHARES}
        self.counts = {s: 0 for s in SOURCES}
        self.used_hetu: set[int] = set()  # birth ordinal * 1000 + individual number
        self.used_temp: set[str] = set()
        self.used_email: set[str] = set()
        self.pending_pairs: list[tuple[int, int, bool]] = []
        self.pid = 0
        self.hid = 0
        rng = self.rng
        self.mobile_ctr = {p: 0 for p in _MOBILE_PREFIXES}
        self.mobile_add = {p: rng.randrange(10**7) for p in _MOBILE_PREFIXES}
        self.land_ctr, self.land_add = 0, rng.randrange(10**7)
        self.lib_ids = _IdPool(rng, 1, int(persons * 0.75) + 100)
        self.card_ids = _IdPool(rng, 1_000_000, int(persons * 0.65) + 100)
        self.wilma_ids = _IdPool(rng, 10_000, int(persons * 0.2) + 100)
        self.card_salt = rng.randrange(10**9)
        self.email_domains = [d for d, _ in N.EMAIL_DOMAINS]
        cw, acc = [], 0
        for _, w in N.EMAIL_DOMAINS:
            acc += w
            cw.append(acc)
        self.email_cw = cw
        self.city_names = [c for c, _ in N.CITY_WEIGHTS]
        cw, acc = [], 0.0
        for _, w in N.CITY_WEIGHTS:
            acc += w
            cw.append(acc)
        self.city_cw = cw
        self.schools = {st: [s for s in N.SCHOOLS if s[4] == st] for st in ("primary", "lower", "upper")}
        self.org_ids = {s[0]: str(uuid.uuid5(uuid.NAMESPACE_URL, f"pat-mdm-demo/org/{s[0]}"))
                        for s in N.SCHOOLS}
        self.district_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "pat-mdm-demo/org/turku"))

    # ------------------------------------------------------------------ run
    def run(self) -> dict[str, int]:
        out = self.out
        for sub in ("library", "school", "health", "transit"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".spool-", dir=out))
        try:
            self.s_lib = _Spool(tmp, "library", self.NB, 12)
            self.s_users = _Spool(tmp, "users", self.NB, 36)
            self.s_demo = _Spool(tmp, "demographics", self.NB, 36)
            self.s_health = _Spool(tmp, "health", self.NB, 36)
            self.s_transit = _Spool(tmp, "transit", self.NB, 16)
            with open(out / "truth.csv", "w", encoding="utf-8", newline="") as tf:
                self.truth = csv.writer(tf, lineterminator="\n")
                self.truth.writerow(TRUTH_COLUMNS)
                remaining = self.persons
                while remaining > 0:
                    hh = self.household(remaining)
                    remaining -= len(hh.members)
                    self.emit(hh)
            self.s_lib.finish(out / "library" / "patrons.csv", ",".join(KOHA_COLUMNS) + "\n")
            self.s_users.finish(out / "school" / "users.csv", ",".join(ONEROSTER_USER_COLUMNS) + "\n")
            self.s_demo.finish(out / "school" / "demographics.csv",
                               ",".join(ONEROSTER_DEMOGRAPHIC_COLUMNS) + "\n")
            self.s_health.finish(out / "health" / "patients.ndjson", None)
            self.s_transit.finish(out / "transit" / "cards.csv", ",".join(FOLI_COLUMNS) + "\n")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.write_orgs()
        (out / "mdm.toml").write_text(MDM_TOML, encoding="utf-8")
        manifest = {
            "generator": "mdm.demo_data",
            "seed": self.seed,
            "persons": self.pid,
            "households": self.hid,
            "reference_date": self.ref.isoformat(),
            "records": dict(self.counts),
            "hard_cases": {k: self.hits[k] for k in SHARES},
            "shares": {k: v[0] for k, v in SHARES.items()},
        }
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        return dict(self.counts)


MDM_TOML = """\
# Generated by mdm.demo_data: a synthetic Turku population. Paths are relative to this file.
[store]
# database_url = "sqlite:///var/mdm.sqlite"

[[sources]]
name = "library"
connector = "koha-csv"
path = "library/patrons.csv"

[[sources]]
name = "school"
connector = "oneroster-csv"
path = "school"

[[sources]]
name = "health"
connector = "fhir-ndjson"
path = "health/patients.ndjson"

[[sources]]
name = "transit"
connector = "foli-csv"
path = "transit/cards.csv"
"""


def generate(out_dir: Path, persons: int, seed: int, *, reference_date: date = REFERENCE_DATE
             ) -> dict[str, int]:
    """Write the synthetic Turku population under ``out_dir``; returns record counts per source."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _Generator(out, int(persons), int(seed), reference_date).run()
