"""A synthetic PostgreSQL store of N golden records for the API benchmark (not a real reconcile).

Persons live in households (shared address, sometimes a landline, children
carrying a parent's mobile); each has one to four source records (library,
health, transit, school) written the way those sources write them (phone
styles, calling name only, upper-case ASCII on old transit cards, typos, a
temporary HETU now and then). Every record goes through the real
``rules.standardise_record`` and ``matching.features.record_features``; the
holder counts are the batch's (``matching.features._holders`` per value); golden attributes come
from the real survivorship. What is *not* real: the clustering - each person's
records are simply linked to one golden record, as a perfect reconcile would -
and the relations: the household's adults are written as ``guardian_of``
each of its minors, as reconciliation lifts the school's guardian links.
Names follow a long-tailed distribution over ~15,000 surnames (the most common
~0.7 % of people, like Korhonen in Finland) and ~200 given names, birth dates
spread over a century and ~400 postal codes, so blocking groups have
realistic sizes at a million people.

Rows are loaded with COPY (foreign-key triggers off, plain indexes built
afterwards); the model row is copied from a store trained on demo data.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import random
import tempfile
import time
from array import array
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator

import psycopg
from psycopg.types.json import Jsonb

from matching.features import MAX_BLOCKING_HOLDERS, _holders, record_features
from mdm._typing import AddressIn, IdentifierIn, NameIn, SourceRecordIn
from mdm.demo_data.names import FEMALE_GIVEN, MALE_GIVEN, STREETS, SURNAMES
from mdm.services.pull import _identifier_rows, content_hash
from rules import standardise_record
from rules.hetu import CHECK_ALPHABET
from rules.survivorship import load_survivorship, survive

SOURCES = (("library", "koha-csv"), ("health", "fhir-ndjson"), ("transit", "foli-csv"), ("school", "oneroster-csv"))
SOURCE_ID = {name: i for i, (name, _c) in enumerate(SOURCES, 1)}
LOOKUP_SAMPLE_TYPES = ("hetu", "phone", "email", "library_card", "transit_card")
SAMPLE_EVERY = 400
HOLDER_COLUMNS = ("phone", "email", "address_key")
NOW = datetime(2026, 11, 30, tzinfo=timezone.utc)
_SYL = ("ko", "rho", "vir", "ta", "mä", "ki", "nie", "mi", "lai", "ne", "hei", "kin", "lah", "ti", "sa", "lo",
        "ran", "tu", "ja", "kos", "jär", "vi", "leh", "to", "hä", "la", "ka", "har", "ju", "pel", "sil", "ai",
        "ro", "nur", "hy", "vö", "pii", "rä", "sep", "hon")
_SUFFIX = ("nen", "la", "lä", "o", "inen", "mo", "ma", "ola", "sto", "linen")
_CITIES = ("Turku", "Kaarina", "Raisio", "Naantali", "Lieto", "Salo", "Uusikaupunki", "Loimaa", "Parainen",
           "Masku", "Paimio", "Mynämäki")


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (k ** s) for k in range(1, n + 1)))


class Vocabulary:
    def __init__(self, rnd: random.Random) -> None:
        synthetic = sorted({(a + b + c).capitalize() for a in _SYL for b in _SYL for c in _SUFFIX if a != b})
        rnd.shuffle(synthetic)
        self.surnames = list(SURNAMES) + [s for s in synthetic if s not in SURNAMES][:15000]
        self.surname_cw = _zipf_cum(len(self.surnames), 0.6)
        self.female, self.male = list(FEMALE_GIVEN), list(MALE_GIVEN)
        self.female_cw, self.male_cw = _zipf_cum(len(self.female), 0.5), _zipf_cum(len(self.male), 0.5)
        base = [s for city in STREETS.values() for s, _pc in city]
        stems = sorted({a + b for a in _SYL for b in _SYL})[:2000]
        self.streets = base + [f"{s.capitalize()}{rnd.choice(('tie', 'katu', 'polku', 'kuja'))}" for s in stems]
        self.postcodes = [f"{20000 + 10 * i:05d}" for i in range(400)]
        self.street_pc = {st: rnd.choice(self.postcodes) for st in self.streets}
        self.pc_city = {pc: _CITIES[min(i // 40, len(_CITIES) - 1)] for i, pc in enumerate(self.postcodes)}


def hetu_of(birth: date, individual: int) -> str:
    sign = "-" if birth.year < 2000 else "A"
    ddmmyy = birth.strftime("%d%m%y")
    return f"{ddmmyy}{sign}{individual:03d}{CHECK_ALPHABET[int(f'{ddmmyy}{individual:03d}') % 31]}"


def _phone_style(e164: str, rnd: random.Random) -> str:
    national = "0" + e164[4:]
    return rnd.choice((e164, national, f"{national[:3]} {national[3:6]} {national[6:]}",
                       f"{national[:3]}-{national[3:]}"))


def _typo(word: str, rnd: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rnd.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def _ascii_upper(text: str) -> str:
    return text.translate(str.maketrans("äöåÄÖÅ", "aoaAOA")).upper()


class Population:
    """Households of persons and their source records, deterministic for a seed."""

    def __init__(self, golden: int, seed: int = 1, *, used_hetu: set[str] | None = None, strangers: bool = False,
                 email_domains: tuple[str, ...] = ("gmail.com", "outlook.com", "elisanet.fi")) -> None:
        self.golden = golden
        self.rnd = random.Random(seed)
        self.vocab = Vocabulary(self.rnd)
        self.used_hetu: set[str] = set() if used_hetu is None else used_hetu
        self.counter = itertools.count(1)
        self.mobiles = itertools.count(400_000_000 + seed * 7919)
        self.strangers = strangers  # numbers in 050, which the stored population never has
        self.email_domains = email_domains

    def _mobile(self) -> str:
        n = next(self.mobiles)
        return f"+35850{n % 10**7:07d}" if self.strangers else f"+3584{n % 10}{n // 10 % 10**7:07d}"

    def _person(self, sex: str, birth: date, surname: str) -> dict[str, Any]:
        rnd, v = self.rnd, self.vocab
        names, cw = (v.female, v.female_cw) if sex == "female" else (v.male, v.male_cw)
        given = list(dict.fromkeys(rnd.choices(names, cum_weights=cw, k=rnd.choice((1, 2, 2, 3)))))
        while True:
            code = hetu_of(birth, rnd.randrange(2 if sex == "female" else 3, 900, 2))
            if code not in self.used_hetu:
                self.used_hetu.add(code)
                break
        age = (NOW.date() - birth).days // 365
        first, last = given[0].lower(), surname.lower().replace("ä", "a").replace("ö", "o")
        return {"sex": sex, "given": given, "surname": surname, "birth": birth, "hetu": code, "age": age,
                "mobile": self._mobile() if age >= 10 else None,
                "email": f"{first}.{last}{rnd.randrange(100)}@{rnd.choice(self.email_domains)}"
                if age >= 15 and rnd.random() < 0.8 else None}

    def households(self) -> Iterator[list[dict[str, Any]]]:
        rnd, v = self.rnd, self.vocab
        made = 0
        while made < self.golden:
            size = min(rnd.choices((1, 2, 3, 4, 5), cum_weights=(40, 70, 82, 94, 100))[0], self.golden - made)
            surname = rnd.choices(v.surnames, cum_weights=v.surname_cw)[0]
            street = rnd.choice(v.streets)
            pc = v.street_pc[street]
            addr = (f"{street} {rnd.randrange(1, 80)}" + (f" {rnd.choice('ABCDE')} {rnd.randrange(1, 60)}"
                                                          if rnd.random() < 0.6 else ""), pc, v.pc_city[pc])
            landline = f"+3582{rnd.randrange(10**6, 10**7)}" if size >= 2 and rnd.random() < 0.15 else None
            adult_year = rnd.randrange(1930, 2004)
            members = []
            for i in range(size):
                if i < 2:
                    year = adult_year + rnd.randrange(-3, 4)
                    own = surname if i == 0 or rnd.random() < 0.7 else \
                        rnd.choices(v.surnames, cum_weights=v.surname_cw)[0]
                    sex = ("male", "female")[(i + rnd.randrange(2)) % 2] if i else rnd.choice(("male", "female"))
                else:
                    year, own = min(2025, adult_year + rnd.randrange(20, 40)), surname
                    sex = rnd.choice(("male", "female"))
                birth = date(year, 1, 1) + timedelta(days=rnd.randrange(365))
                members.append(self._person(sex, birth, own))
            for i, p in enumerate(members):
                p["address"], p["landline"] = addr, landline
                p["parent_mobile"] = members[0]["mobile"] if p is not members[0] else None
                p["position"] = i  # 0 and 1: the adults (guardians of the household's minors)
            made += size
            yield members

    def records(self, p: dict[str, Any]) -> list[tuple[str, SourceRecordIn]]:
        rnd = self.rnd
        child = p["age"] < 18
        shares = (("library", 0.85 if child else 0.5), ("health", 0.6), ("transit", 0.4 if p["age"] >= 7 else 0),
                  ("school", 0.95 if 6 <= p["age"] <= 18 else 0))
        wanted = [s for s, share in shares if rnd.random() < share]
        wanted = wanted or ["health"]
        if "library" in wanted and rnd.random() < 0.03:
            wanted.append("library")  # an old, forgotten card
        return [(src, self._record(src, p, child)) for src in wanted]

    def _record(self, src: str, p: dict[str, Any], child: bool) -> SourceRecordIn:
        rnd = self.rnd
        n = next(self.counter)
        given, family = " ".join(p["given"]), p["surname"]
        if src in ("library", "transit") and rnd.random() < 0.02:
            given, family = (_typo(given, rnd), family) if rnd.random() < 0.5 else (given, _typo(family, rnd))
        if src == "library" and len(p["given"]) > 1 and rnd.random() < 0.3:
            given = p["given"][0]
        phone = p["parent_mobile"] if child and p["parent_mobile"] and rnd.random() < 0.7 else p["mobile"]
        ids = [IdentifierIn("phone", _phone_style(phone, rnd))] if phone else []
        if p["landline"] and rnd.random() < 0.5:
            ids.append(IdentifierIn("phone", p["landline"]))
        if p["email"] and rnd.random() < 0.7:
            ids.append(IdentifierIn("email", p["email"]))
        street, pc, city = p["address"]
        birth = p["birth"].isoformat()
        if src == "library":
            sid = f"{n}"
            ids.append(IdentifierIn("library_card", f"2070{n:09d}"))
        elif src == "health":
            sid = f"p-{n:010d}"
            if rnd.random() < 0.01:
                ids.append(IdentifierIn("temporary_id", hetu_of(p["birth"], 900 + rnd.randrange(100)),
                                        system="urn:oid:1.2.246.10.32213294.10.99"))
            else:
                ids.append(IdentifierIn("hetu", p["hetu"], system="urn:oid:1.2.246.21"))
        elif src == "transit":
            sid = f"9246{n:012d}"
            ids.append(IdentifierIn("transit_card", sid))
            if rnd.random() < 0.5:
                ids.append(IdentifierIn("hetu", p["hetu"]))
            if rnd.random() < 0.1:
                given, family, street, city = (_ascii_upper(given), _ascii_upper(family), _ascii_upper(street),
                                               _ascii_upper(city))
        else:
            sid = f"s-{n:010d}"
            ids.append(IdentifierIn("oneroster_id", sid))
        return SourceRecordIn(
            source_id=sid, names=[NameIn(given=given, family=family)], birth_date=birth,
            sex=p["sex"] if src != "school" else None, identifiers=ids,
            addresses=[AddressIn(street=street, postal_code=pc, city=city)],
            updated_at=NOW - timedelta(seconds=rnd.randrange(2 * 365 * 86400)), raw={"bench": src})


def people(pop: Population, sample_every: int) -> Iterator[tuple[int, dict[str, Any], list[Any], list[Any] | None]]:
    """(person number, person, its source records, for every sample_every-th a new record of it)."""
    person_no = 0
    for household in pop.households():
        for p in household:
            person_no += 1
            records = pop.records(p)
            entry = [r for _s, r in pop.records(p)] if person_no % sample_every == 0 else None
            yield person_no, p, records, entry


def sample(golden: int, sample_every: int = SAMPLE_EVERY) -> tuple[Population, list[dict[str, Any]]]:
    """The sampled persons of ``load`` again (same seed, same draws), without writing anything."""
    pop = Population(golden)
    out = []
    for person_no, p, records, entry in people(pop, sample_every):
        if entry is not None:
            written = [(row["type"], row["value"]) for _s, rec in records
                       for row in _identifier_rows(0, standardise_record(rec))
                       if row["quality"] == "valid" and row["type"] in LOOKUP_SAMPLE_TYPES]
            out.append({"person": p, "golden_id": golden_id(person_no), "identifiers": written, "entry": entry})
    return pop, out


def strangers(pop: Population, n: int) -> list[SourceRecordIn]:
    """Records of people not in the store: no stored HETU, phone or e-mail."""
    others = Population(n, seed=99, used_hetu=pop.used_hetu, strangers=True, email_domains=("example.net",))
    return [others.records(p)[0][1] for household in others.households() for p in household]


def golden_id(person_no: int) -> str:
    return "G" + hashlib.sha256(f"bench:{person_no}".encode()).hexdigest()[:20]


def _holder_counts(conn: Any, column: str, max_rid: int) -> array:
    """Record id -> people holding its value of ``column`` (``matching.features._holders`` per value)."""
    counts = array("i", bytes(4 * (max_rid + 1)))
    group: list[tuple[int, list[str], str | None]] = []

    def close() -> None:
        n = _holders([{"given_names": g or [], "birth_date": b} for _r, g, b in group])
        for r, _g, _b in group:
            counts[r] = n

    with conn.cursor(name=f"holders_{column}") as cur:
        cur.itersize = 20_000
        cur.execute(f"SELECT {column}, rid, given_names, birth_date FROM bench_holder_stage "
                    f"WHERE {column} IS NOT NULL ORDER BY {column}")
        value = None
        for v, r, g, b in cur:
            if v != value and group:
                close()
                group = []
            value = v
            group.append((r, g, b))
        if group:
            close()
    return counts


def _connect(conninfo: str, schema: str) -> Any:
    conn = psycopg.connect(conninfo, options=f"-csearch_path={schema}")
    conn.execute("SET session_replication_role = replica")  # no FK triggers during the bulk load
    return conn


def load(conninfo: str, schema: str, golden: int, model_document: dict[str, Any], progress: Any = print,
         sample_every: int = SAMPLE_EVERY) -> tuple[Population, list[dict[str, Any]]]:
    """Fill an empty schema (at head) with ``golden`` persons; returns the sampled persons for the load.

    One connection per COPY stream: a connection runs one COPY at a time.
    """
    conn = _connect(conninfo, schema)
    pop = Population(golden)
    rules = load_survivorship()
    started = time.monotonic()
    samples: list[dict[str, Any]] = []
    # Feature rows wait on disk for their holder counts, which PostgreSQL's sort groups (little memory).
    spool = tempfile.TemporaryFile("w+", encoding="utf-8")
    cur = conn.cursor()
    cur.execute("CREATE UNLOGGED TABLE bench_holder_stage (rid bigint, phone text, email text, address_key text, "
                "given_names text[], birth_date text)")
    for i, (name, connector) in enumerate(SOURCES, 1):
        cur.execute("INSERT INTO source_system (id, name, connector, created_at) VALUES (%s, %s, %s, now())",
                    (i, name, connector))
    plain = cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE 'ix_%%' "
        "AND tablename IN ('source_record', 'identifier', 'golden_record', 'golden_link', 'match_feature')").fetchall()
    for index, _definition in plain:
        cur.execute(f'DROP INDEX "{index}"')
    rid, iid, person_no, relations = 0, 0, 0, 0
    sr_cols = ("id, source_system_id, source_id, kind, standardised, raw, content_hash, version, "
               "source_updated_at, first_seen, last_seen")
    conn.commit()
    streams = [_connect(conninfo, schema) for _ in range(6)]
    guardians: list[str] = []  # golden ids of the current household's adults
    with streams[0].cursor() as c1, streams[1].cursor() as c2, streams[2].cursor() as c3, \
            streams[3].cursor() as c4, c4.copy("COPY golden_link (source_record_id, golden_id, kind, since) "
                                               "FROM STDIN") as gl, \
            streams[4].cursor() as c5, c5.copy("COPY bench_holder_stage FROM STDIN") as stage, \
            streams[5].cursor() as c6, c6.copy("COPY golden_relation (type, subject_golden_id, object_golden_id, "
                                               "since) FROM STDIN") as rel, \
            c1.copy(f"COPY source_record ({sr_cols}) FROM STDIN") as sr, \
            c2.copy("COPY identifier (id, source_record_id, type, value, raw_value, quality, error, status, "
                    "valid_from, valid_to) FROM STDIN") as ident, \
            c3.copy("COPY golden_record (id, kind, status, attributes, identifier_set, created_at, updated_at) "
                    "FROM STDIN") as gold:
        for person_no, p, records, entry in people(pop, sample_every):
            gid = golden_id(person_no)
            # Guardian relations as reconciliation lifts them from the school's guardian links.
            if p["position"] == 0:
                guardians = []
            if p["position"] < 2 and p["age"] >= 18:
                guardians.append(gid)
            elif p["position"] >= 2 and p["age"] < 18:
                for guardian in guardians:
                    rel.write_row(("guardian_of", guardian, gid, NOW))
                    relations += 1
            members, idents, written = [], set(), []
            for src, rec in records:
                rid += 1
                std = standardise_record(rec)
                sr.write_row((rid, SOURCE_ID[src], rec.source_id, "person", Jsonb(std), Jsonb(rec.raw),
                              content_hash(std, []), 1, rec.updated_at, NOW, NOW))
                for row in _identifier_rows(rid, std):
                    iid += 1
                    ident.write_row((iid, rid, row["type"], row["value"], row["raw_value"], row["quality"],
                                     row["error"], row["status"], row["valid_from"], row["valid_to"]))
                    idents.add(f"{row['type']}:{row['value']}")
                    if row["quality"] == "valid" and row["type"] in LOOKUP_SAMPLE_TYPES:
                        written.append((row["type"], row["value"]))
                f = record_features(rid, src, std)
                spool.write(json.dumps(f, ensure_ascii=False) + "\n")
                if f["phone"] or f["email"] or f["address_key"]:
                    stage.write_row((rid, f["phone"], f["email"], f["address_key"], f["given_names"],
                                     f["birth_date"]))
                gl.write_row((rid, gid, "auto", NOW))
                members.append((rid, src, std, rec.updated_at.isoformat()))
            attrs = survive(members, rules)
            gold.write_row((gid, "person", "active", Jsonb(attrs), Jsonb(sorted(idents)), NOW, NOW))
            if entry is not None:
                samples.append({"person": p, "golden_id": gid, "identifiers": written, "entry": entry})
            if person_no % 100_000 == 0:
                progress(f"  {person_no:,} persons, {rid:,} records ({time.monotonic() - started:.0f} s)")
    for stream in streams:
        stream.commit()
        stream.close()
    progress(f"  holder counts for {rid:,} feature rows")
    counts = {c: _holder_counts(conn, c, rid) for c in HOLDER_COLUMNS}
    cur.execute("DROP TABLE bench_holder_stage")
    mf_cols = ["hetu_any", "birth_date", "first_given", "surname", "phone_block", "email_block", "other_id", "postcode"]
    extra = [c for c in ("address_block",) if c in {r[0] for r in cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'match_feature'")}]
    spool.seek(0)
    with cur.copy(f"COPY match_feature (source_record_id, features, {', '.join(mf_cols + extra)}) FROM STDIN") as mf:
        for line in spool:
            f = json.loads(line)
            for column in HOLDER_COLUMNS:  # as matching.features.add_holder_counts does
                prefix = column.split("_")[0]
                n = counts[column][f["unique_id"]] if f[column] else None
                f[f"{prefix}_holders"] = n
                f[f"{prefix}_block"] = f[column] if n is not None and n <= MAX_BLOCKING_HOLDERS else None
            f["given_names"] = f["given_names"] or None
            f["surnames"] = f["surnames"] or None
            mf.write_row((f["unique_id"], Jsonb(f), *(f[c] for c in mf_cols + extra)))
    spool.close()
    progress(f"  rows loaded ({time.monotonic() - started:.0f} s); building indexes")
    for _index, definition in plain:
        cur.execute(definition)
    for table, column in (("source_record", "id"), ("identifier", "id"), ("source_system", "id")):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"(SELECT max({column}) FROM {table}))")
    cur.execute("INSERT INTO matching_model (version, created_at, settings_fingerprint, document, active) "
                "VALUES (1, now(), %s, %s, true)", (model_document["settings_fingerprint"], Jsonb(model_document)))
    cur.execute("SET session_replication_role = origin")
    conn.commit()
    # VACUUM as well as ANALYZE: a store in use has been vacuumed (hint bits set, visibility
    # map built); freshly copied rows are not, and the first read of every page would set its
    # hint bits and dirty it - measured: lookup 0.75-0.98 ms of database CPU against 0.55 after.
    conn.autocommit = True
    for table in ("source_record", "identifier", "golden_record", "golden_link", "golden_relation",
                  "match_feature", "access_log"):
        cur.execute(f"VACUUM (ANALYZE) {table}")
    conn.close()
    progress(f"  store ready: {person_no:,} golden records, {rid:,} source records, {iid:,} identifiers, "
             f"{relations:,} guardian relations ({time.monotonic() - started:.0f} s)")
    return pop, samples
