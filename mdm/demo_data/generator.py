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
"""
from __future__ import annotations

import csv
import json
import os
import random
import shutil
import tempfile
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

from . import names as N

REFERENCE_DATE = date(2026, 11, 30)

KOHA_COLUMNS = (
    "borrowernumber", "cardnumber", "surname", "firstname", "dateofbirth", "sex", "email", "phone",
    "smsalertnumber", "address", "zipcode", "city", "branchcode", "categorycode", "dateenrolled",
    "updated_on", "patron_attributes", "guarantor_id", "guarantor_relationship",
)
ONEROSTER_USER_COLUMNS = (
    "sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "username",
    "userIds", "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone",
    "agentSourcedIds", "grades", "password",
)
ONEROSTER_DEMOGRAPHIC_COLUMNS = (
    "sourcedId", "status", "dateLastModified", "birthDate", "sex", "americanIndianOrAlaskaNative",
    "asian", "blackOrAfricanAmerican", "nativeHawaiianOrOtherPacificIslander", "white",
    "demographicRaceTwoOrMoreRaces", "hispanicOrLatinoEthnicity", "countryOfBirthCode",
    "stateOfBirthAbbreviation", "cityOfBirth", "publicSchoolResidenceStatus",
)
ONEROSTER_ORG_COLUMNS = ("sourcedId", "status", "dateLastModified", "name", "type", "identifier",
                         "parentSourcedId")
FOLI_COLUMNS = (
    "card_number", "card_type", "customer_group", "holder_first_names", "holder_last_name",
    "holder_birth_date", "holder_hetu", "phone", "email", "street_address", "postal_code", "city",
    "status", "issued_on", "updated_at",
)
TRUTH_COLUMNS = ("source", "source_id", "person_id", "household_id")
SOURCES = ("library", "school", "health", "transit")

HETU_SYSTEM = "urn:oid:1.2.246.21"
#: Synthetic organisation-specific systems for temporary ids (under urn:oid:1.2.246.10.).
TEMP_ID_SYSTEMS = ("urn:oid:1.2.246.10.32213294.10.99", "urn:oid:1.2.246.10.32213294.21.99")
SECURITY_SYSTEM = "https://hl7.fi/fhir/finnish-base-profiles/CodeSystem/fi-base-security-label-cs"
ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
HETU_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"

#: The controlled shares: name -> (probability per opportunity, forced minimum, what it is).
#: The first ``minimum`` *visible* opportunities (the person has records in >= 2 sources,
#: where that matters) are forced, so even a small run contains every hard case.
SHARES: dict[str, tuple[float, int, str]] = {
    "household_landline": (0.15, 3, "households of >= 2 persons with a shared landline (40% for elderly couples)"),
    "family_email": (0.20, 3, "couples where both adults use one shared e-mail address"),
    "child_parent_phone": (0.70, 3, "library/transit records of children < 15 carrying a parent's mobile"),
    "child_parent_email": (0.50, 3, "library/transit records of children < 15 carrying a parent's e-mail"),
    "twins": (0.005, 2, "births that are twin births (=> ~1% of children are twins)"),
    "calling_second_name": (0.08, 3, "persons with >= 2 given names who go by the second one"),
    "married_name_change": (0.65, 3, "married women who took the spouse's surname (90% if 60+)"),
    "health_maiden": (0.85, 3, "health records of renamed women listing the maiden name (use maiden/old)"),
    "library_maiden": (0.25, 3, "library records of renamed women still showing the maiden surname"),
    "transit_maiden": (0.15, 2, "transit cards of renamed women still showing the maiden surname"),
    "moved": (0.12, 3, "households that moved within the last two years"),
    "library_old_address": (0.35, 2, "library records of movers still at the previous address"),
    "transit_old_address": (0.40, 2, "transit cards of movers still at the previous address"),
    "health_old_address_only": (0.10, 2, "health records of movers with only the previous address"),
    "health_old_address_kept": (0.45, 2, "health records of movers with the previous address as use=old"),
    "typo_library": (0.02, 3, "library records with a typo in a name"),
    "typo_transit": (0.02, 2, "transit records with a typo in a name"),
    "typo_school": (0.01, 2, "school records with a typo in a name"),
    "typo_health": (0.005, 2, "health records with a typo in a name"),
    "date_swap": (0.003, 3, "birth dates written with day and month swapped (when possible)"),
    "library_folded": (0.02, 2, "library records that lost ä/ö/å (old migrated data)"),
    "library_dup_card": (0.03, 3, "library persons with a second, old forgotten card"),
    "transit_lost_card": (0.04, 3, "transit persons with a lost card plus an active replacement"),
    "transit_closed_card": (0.12, 2, "transit persons with an older closed card"),
    "health_temp_only": (0.01, 3, "health records identified only by a temporary id (900-999)"),
    "health_temp_duplicate": (0.005, 2, "health persons with an extra temporary-id Patient record"),
    "century_pair": (0.0001, 2, "single adults born 1900-1999 who get a century-sign twin (same DDMMYYZZZC, sign Y)"),
    "library_bad_hetu": (0.005, 2, "library HETU attributes with a wrong check character"),
    "impossible_date": (0.0005, 2, "library/transit birth dates that are impossible (30.2., month 13)"),
    "turvakielto": (0.004, 1, "households under non-disclosure (FHIR meta.security TURVAKIELTO)"),
}

_FOLD = str.maketrans("äöåÄÖÅéüÉÜ", "aoaAOAeuEU")
_MOBILE_PREFIXES = ("40", "41", "44", "45", "46", "50")
_PERM_MUL = 7_654_321  # coprime with 10**7 -> (k * mul + add) % 10**7 is a permutation
_TWO_YEARS = 2 * 365 * 86400


def fold(text: str) -> str:
    """Drop Nordic diacritics the way old ASCII-only systems did (ä->a, ö->o, å->a)."""
    return text.translate(_FOLD)


def hetu_check(day: int, month: int, yy: int, individual: int) -> str:
    return HETU_CHARS[(day * 10_000_000 + month * 100_000 + yy * 1000 + individual) % 31]


def make_hetu(birth: date, individual: int, sign: str) -> str:
    d, m, yy = birth.day, birth.month, birth.year % 100
    return f"{d:02d}{m:02d}{yy:02d}{sign}{individual:03d}{hetu_check(d, m, yy, individual)}"


class _Person:
    __slots__ = ("pid", "male", "given", "call", "surname", "maiden", "birth", "age", "hetu",
                 "mobile", "email", "foreign", "twin", "force_health", "adult", "role")

    def __init__(self) -> None:
        self.maiden = None
        self.twin = None
        self.force_health = False
        self.adult = True
        self.role = None  # "MTH" | "FTH" | "PRN" for household adults with children


class _Household:
    __slots__ = ("hid", "members", "addr", "prev", "landline", "family_email", "turva", "area",
                 "foreign")


class _IdPool:
    """Unique integer ids handed out in random order from shuffled blocks."""

    def __init__(self, rng: random.Random, start: int, block: int) -> None:
        self.rng, self.start, self.block = rng, start, max(64, block)
        self._next = start
        self._ids: list[int] = []

    def take(self) -> int:
        if not self._ids:
            ids = list(range(self._next, self._next + self.block))
            self.rng.shuffle(ids)
            self._ids = ids
            self._next += self.block
        return self._ids.pop()

    def bucket(self, value: int, nb: int) -> int:
        return min(nb - 1, (value - self.start) * nb // self.block)


class _Spool:
    """Rows spooled into key-range buckets; ``finish`` writes them sorted by key."""

    def __init__(self, tmp: Path, name: str, nb: int, keylen: int) -> None:
        self.paths = [tmp / f"{name}.{i}" for i in range(nb)]
        self.files = [open(p, "w", encoding="utf-8", newline="") for p in self.paths]
        self.writers = [csv.writer(f, lineterminator="\n") for f in self.files]
        self.keylen = keylen

    def row(self, bucket: int, key: str, row: tuple) -> None:
        self.writers[bucket].writerow((key, *row))

    def line(self, bucket: int, key: str, text: str) -> None:
        self.files[bucket].write(f"{key},{text}\n")

    def finish(self, out: Path, header: str | None) -> None:
        for f in self.files:
            f.close()
        cut = self.keylen + 1
        with open(out, "w", encoding="utf-8", newline="") as fo:
            if header is not None:
                fo.write(header)
            for p in self.paths:
                with open(p, encoding="utf-8", newline="") as fi:
                    lines = fi.read().split("\n")
                lines.pop()  # trailing empty string
                lines.sort()
                if lines:
                    fo.write("\n".join([ln[cut:] for ln in lines]))
                    fo.write("\n")
                os.unlink(p)


class _Generator:
    NB = 16

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

    # ------------------------------------------------------------------ helpers
    def case(self, name: str, visible: bool = True) -> bool:
        p, minimum, _ = SHARES[name]
        if visible and self.hits[name] < minimum:
            hit = True
        else:
            hit = self.rng.random() < p
        if hit:
            self.hits[name] += 1
        return hit

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def ts(self) -> datetime:
        return self.ref_dt - timedelta(seconds=self.rng.randrange(_TWO_YEARS))

    def rand_date(self, lo: int, hi: int) -> date:
        """A random date in [lo, hi) (ordinals), never after the reference date."""
        hi = min(hi, self.ref_ord)
        if hi <= lo:
            return date.fromordinal(min(lo, self.ref_ord - 1))
        return date.fromordinal(self.rng.randrange(lo, hi))

    def age_of(self, b: date) -> int:
        r = self.ref
        return r.year - b.year - ((r.month, r.day) < (b.month, b.day))

    def mobile(self) -> str:
        p = self.rng.choice(_MOBILE_PREFIXES)
        k = self.mobile_ctr[p]
        self.mobile_ctr[p] = k + 1
        return f"{p}{(k * _PERM_MUL + self.mobile_add[p]) % 10**7:07d}"

    def landline(self) -> str:
        k = self.land_ctr
        self.land_ctr = k + 1
        return f"2{(k * _PERM_MUL + self.land_add) % 10**7:07d}"

    def fmt_phone(self, nsn: str | None, weights: tuple[float, ...]) -> str:
        """Write a national significant number the way people type it."""
        if not nsn:
            return ""
        a = 2 if nsn[0] in "45" else 1
        area, rest = nsn[:a], nsn[a:]
        r = self.rng.random()
        if r < weights[0]:
            return "0" + nsn  # 0401234567
        if r < weights[1]:
            return f"0{area} {rest[:3]} {rest[3:]}"  # 040 123 4567
        if r < weights[2]:
            return f"0{area}-{rest}"  # 040-1234567
        if r < weights[3]:
            return "+358" + nsn  # +358401234567
        if r < weights[4]:
            return f"+358 {area} {rest}"  # +358 40 1234567
        return f"0{area} {rest}"  # 040 1234567

    def hetu(self, birth: date, male: bool) -> str:
        rng = self.rng
        bo = birth.toordinal()
        while True:
            ind = rng.randrange(1, 450) * 2 + (1 if male else 0)
            key = bo * 1000 + ind
            if key not in self.used_hetu:
                self.used_hetu.add(key)
                break
        if birth.year >= 2000:
            sign = "B" if rng.random() < 0.005 else "A"
        else:
            sign = "Y" if rng.random() < 0.003 else "-"
        return make_hetu(birth, ind, sign)

    def temp_hetu(self, birth: date, male: bool) -> str:
        rng = self.rng
        if rng.random() < 0.3:  # birth date only approximately known
            birth = date(birth.year, 1, 1)
        sign = "A" if birth.year >= 2000 else "-"
        for _ in range(50):
            ind = rng.randrange(900, 1000)
            v = make_hetu(birth, ind, sign)
            if v not in self.used_temp:
                break
        self.used_temp.add(v)
        return v

    def email(self, call: str, surname: str, age: int) -> str:
        rng = self.rng
        c = fold(call).lower().replace(" ", "").replace("-", "")
        s = fold(surname).lower().replace(" ", "").replace("-", "").replace("é", "e")
        r = rng.random()
        if r < 0.45:
            local = f"{c}.{s}"
        elif r < 0.6:
            local = f"{c}{s}"
        elif r < 0.7:
            local = f"{c[0]}.{s}"
        elif r < 0.85:
            local = f"{c}.{s}{rng.randint(1, 99)}"
        elif r < 0.93:
            local = f"{c}_{s}"
        else:
            local = f"{c}{rng.randint(60, 2010)}"
        if 19 <= age <= 29 and rng.random() < 0.25:
            domain = "utu.fi"
        else:
            domain = rng.choices(self.email_domains, cum_weights=self.email_cw)[0]
        e = f"{local}@{domain}"
        while e in self.used_email:
            e = f"{local}{rng.randint(1, 999)}@{domain}"
        self.used_email.add(e)
        return e

    def write_email(self, e: str | None) -> str:
        """Occasionally capitalised as typed by the person."""
        if not e:
            return ""
        if self.rng.random() < 0.03:
            local, _, dom = e.partition("@")
            return ".".join(x.capitalize() for x in local.split(".")) + "@" + dom.capitalize()
        return e

    def address(self) -> tuple[str, str, str]:
        rng = self.rng
        city = rng.choices(self.city_names, cum_weights=self.city_cw)[0]
        street, postal = rng.choice(N.STREETS[city])
        num = rng.randint(1, 60)
        r = rng.random()
        if r < 0.55:
            line = f"{street} {num} {rng.choice('ABCDEF')} {rng.randint(1, 60)}"
        elif r < 0.75:
            line = f"{street} {num} as {rng.randint(1, 20)}"
        else:
            line = f"{street} {num}"
        return line, postal, city

    def write_street(self, line: str) -> str:
        """Small writing variations of the same street line."""
        r = self.rng.random()
        if r < 0.03:
            return line.replace(" as ", " as. ")
        if r < 0.06:
            parts = line.split(" ")
            if len(parts) >= 3 and len(parts[-2]) == 1 and parts[-2].isalpha():
                parts[-2] = parts[-2].lower()  # "Aurakatu 5 b 12"
                return " ".join(parts)
        return line

    def typo(self, s: str) -> str:
        rng = self.rng
        if len(s) < 4:
            return s + s[-1]
        for _ in range(10):
            i = rng.randrange(1, len(s) - 1)
            a, b = s[i], s[i + 1]
            if a in " -" or b in " -":
                continue
            r = rng.random()
            if r < 0.3 and a != b:
                t = s[:i] + b + a + s[i + 2:]
            elif r < 0.55:
                t = s[:i] + s[i + 1:]
            elif r < 0.8:
                c = rng.choice("aeiouylnrstkmhä")
                if c == a:
                    continue
                t = s[:i] + c + s[i + 1:]
            else:
                t = s[:i] + a + s[i:]
            if t != s:
                return t
        return s + s[-1]

    def birth_text(self, b: date, *, may_swap: bool, may_break: bool, visible: bool) -> str:
        if may_swap and b.day <= 12 and b.day != b.month and self.case("date_swap", visible):
            return f"{b.year:04d}-{b.day:02d}-{b.month:02d}"
        if may_break and self.case("impossible_date", visible):
            r = self.rng.random()
            if r < 0.4:
                return f"{b.year:04d}-02-30"
            if r < 0.7:
                return f"{b.year:04d}-13-{b.day:02d}"
            return f"{b.year:04d}-04-31"
        return b.isoformat()

    # ------------------------------------------------------------------ people
    def new_person(self, hh: _Household, male: bool, birth: date, surname: str, *,
                   adult: bool, foreign: bool, taken: set[str]) -> _Person:
        rng = self.rng
        p = _Person()
        self.pid += 1
        p.pid = self.pid
        p.male = male
        p.foreign = foreign
        p.adult = adult
        if foreign:
            pool = N.FOREIGN_MALE if male else N.FOREIGN_FEMALE
            k = 1 if rng.random() < 0.7 else 2
        else:
            pool = N.MALE_GIVEN if male else N.FEMALE_GIVEN
            r = rng.random()
            k = 1 if r < 0.15 else (2 if r < 0.75 else 3)
        given = rng.sample(pool, k)
        while given[0] in taken:  # siblings (and twins) get different first names
            given[0] = rng.choice(pool)
            if given[0] in given[1:]:
                given = rng.sample(pool, k)
        taken.add(given[0])
        p.given = given
        p.call = given[1] if k >= 2 and self.case("calling_second_name") else given[0]
        p.surname = surname
        p.birth = birth
        p.age = self.age_of(birth)
        p.hetu = self.hetu(birth, male)
        age = p.age
        if adult:
            has_mobile = rng.random() < (0.7 if age >= 80 else 0.95)
            pe = 0.35 if age >= 80 else (0.65 if age >= 70 else 0.88)
        else:
            has_mobile = rng.random() < (0.0 if age < 7 else 0.3 if age < 10 else 0.75 if age < 13 else 0.95)
            pe = 0.6 if age >= 13 else 0.0
        p.mobile = self.mobile() if has_mobile else None
        p.email = self.email(p.call, surname, age) if rng.random() < pe else None
        return p

    def birth_for_age(self, age: int) -> date:
        o = self.ref_ord - int((age + self.rng.random()) * 365.2425)
        return date.fromordinal(min(o, self.ref_ord - 1))

    def pick_surname(self, foreign: bool) -> str:
        return self.rng.choice(N.FOREIGN_SURNAMES if foreign else N.SURNAMES)

    def couple(self, hh: _Household, age_a: int, age_b: int, married_p: float,
               taken: set[str]) -> tuple[_Person, _Person, str]:
        rng = self.rng
        same_sex = rng.random() < 0.01
        if hh.foreign:
            s1 = s2 = self.pick_surname(True)
        else:
            s1 = self.pick_surname(False)
            s2 = self.pick_surname(False)
            while s2 == s1:
                s2 = self.pick_surname(False)
        married = rng.random() < married_p
        if same_sex:
            male = rng.random() < 0.5
            a = self.new_person(hh, male, self.birth_for_age(age_a), s1, adult=True, foreign=hh.foreign, taken=taken)
            b = self.new_person(hh, male, self.birth_for_age(age_b), s2, adult=True, foreign=hh.foreign, taken=taken)
            a.role = b.role = "PRN"
            return a, b, s1
        man = self.new_person(hh, True, self.birth_for_age(age_a), s1, adult=True, foreign=hh.foreign, taken=taken)
        woman_surname = s2
        maiden = None
        if married and not hh.foreign:
            p_change = 0.9 if age_b >= 60 else SHARES["married_name_change"][0]
            if (rng.random() < p_change) if self.hits["married_name_change"] >= 3 else True:
                self.hits["married_name_change"] += 1
                woman_surname, maiden = s1, s2
        woman = self.new_person(hh, False, self.birth_for_age(age_b), woman_surname, adult=True,
                                foreign=hh.foreign, taken=taken)
        woman.maiden = maiden
        man.role, woman.role = "FTH", "MTH"
        family = s1 if (married or rng.random() < 0.7) else woman_surname
        return woman, man, family

    def children(self, hh: _Household, n: int, oldest_max: int, surname: str, taken: set[str],
                 room: int) -> list[_Person]:
        rng = self.rng
        kids: list[_Person] = []
        if oldest_max < 0 or room <= 0:
            return kids
        age = rng.randint(0, oldest_max)
        while len(kids) < min(n, room) and age >= 0:
            male = rng.random() < 0.512
            kid = self.new_person(hh, male, self.birth_for_age(age), surname, adult=False,
                                  foreign=hh.foreign, taken=taken)
            kids.append(kid)
            if len(kids) < room and self.case("twins"):
                twin = self.new_person(hh, rng.random() < 0.5, kid.birth, surname, adult=False,
                                       foreign=hh.foreign, taken=taken)
                twin.twin = kid
                kid.twin = twin
                kid.force_health = twin.force_health = True  # twins are always known to health
                kids.append(twin)
            age -= rng.randint(1, 5)
        return kids

    def household(self, remaining: int) -> _Household:
        rng = self.rng
        hh = _Household()
        self.hid += 1
        hh.hid = self.hid
        hh.addr = self.address()
        hh.prev = self.address() if self.case("moved") else None
        hh.turva = self.case("turvakielto")
        hh.area = rng.randrange(1000)
        hh.foreign = rng.random() < 0.06
        hh.landline = None
        hh.family_email = None
        taken: set[str] = set()
        members: list[_Person] = []
        r = rng.random()
        if r < 0.45 or remaining == 1:  # single adult
            members.append(self.single(hh, taken))
        elif r < 0.65:  # couple without children
            a = rng.randint(22, 64)
            w, m, _ = self.couple(hh, min(95, a + rng.randint(-1, 5)), a, 0.35 if a < 35 else 0.6, taken)
            members += [w, m]
        elif r < 0.82:  # couple with children
            mage = rng.randint(24, 52)
            w, m, fam = self.couple(hh, max(20, mage + rng.randint(-2, 5)), mage, 0.75, taken)
            members += [w, m]
            kmax = min(mage - 20, 21)
            n = rng.choices((1, 2, 3, 4), cum_weights=(35, 75, 93, 100))[0]
            members += self.children(hh, n, kmax, fam, taken, remaining - 2)
        elif r < 0.88:  # single parent
            page = rng.randint(24, 55)
            male = rng.random() < 0.15
            s = self.pick_surname(hh.foreign)
            parent = self.new_person(hh, male, self.birth_for_age(page), s, adult=True,
                                     foreign=hh.foreign, taken=taken)
            parent.role = "FTH" if male else "MTH"
            members.append(parent)
            ks = s if rng.random() < 0.6 else self.pick_surname(hh.foreign)  # ex-partner's surname
            n = rng.choices((1, 2, 3), cum_weights=(50, 85, 100))[0]
            members += self.children(hh, n, min(page - 19, 19), ks, taken, remaining - 1)
        else:  # elderly couple
            a = rng.randint(65, 92)
            w, m, _ = self.couple(hh, min(99, a + rng.randint(-1, 4)), a, 0.95, taken)
            members += [w, m]
        members = members[:remaining]
        hh.members = members
        if len(members) >= 2:
            p = 0.40 if (members[0].age >= 65 and members[0].adult) else SHARES["household_landline"][0]
            if (rng.random() < p) if self.hits["household_landline"] >= 3 else True:
                self.hits["household_landline"] += 1
                hh.landline = self.landline()
            adults = [x for x in members if x.adult]
            if len(adults) == 2 and self.case("family_email"):
                a0 = adults[0]
                hh.family_email = self.family_email(a0.surname, adults[1].surname)
                for x in adults:
                    x.email = hh.family_email
        return hh

    def family_email(self, s1: str, s2: str) -> str:
        rng = self.rng
        a = fold(s1).lower().replace(" ", "").replace("-", "")
        b = fold(s2).lower().replace(" ", "").replace("-", "")
        r = rng.random()
        if r < 0.35:
            local = f"perhe.{a}"
        elif r < 0.6:
            local = f"{a}{rng.randint(1, 99)}"
        elif r < 0.8:
            local = f"{a}.{b}" if a != b else f"{a}.koti"
        else:
            local = f"{a}.koti"
        domain = rng.choices(self.email_domains, cum_weights=self.email_cw)[0]
        e = f"{local}@{domain}"
        while e in self.used_email:
            e = f"{local}{rng.randint(1, 999)}@{domain}"
        self.used_email.add(e)
        return e

    def single(self, hh: _Household, taken: set[str]) -> _Person:
        rng = self.rng
        if self.pending_pairs:
            # the second half of a century-sign pair: same DDMMYY + individual number, sign Y
            bo, ind, male = self.pending_pairs.pop()
            birth = date.fromordinal(bo)
            p = self.new_person(hh, male, birth, self.pick_surname(hh.foreign), adult=True,
                                foreign=hh.foreign, taken=taken)
            self.used_hetu.discard(self.used_hetu_key_of(p.hetu, birth))
            p.hetu = make_hetu(birth, ind, "Y")
            p.force_health = True
            return p
        r = rng.random()
        age = rng.randint(19, 29) if r < 0.45 else rng.randint(30, 64) if r < 0.8 else rng.randint(65, 97)
        male = rng.random() < (0.5 if age < 65 else 0.35)
        s = self.pick_surname(hh.foreign)
        p = self.new_person(hh, male, self.birth_for_age(age), s, adult=True, foreign=hh.foreign,
                            taken=taken)
        if not male and not hh.foreign and age >= 35 and rng.random() < 0.3:
            p.maiden = self.pick_surname(False)  # divorced/widowed, kept the married name
            if p.maiden == p.surname:
                p.maiden = None
        if p.birth.year < 2000 and p.hetu[6] == "-" and self.case("century_pair"):
            ind = int(p.hetu[7:10])
            self.pending_pairs.append((p.birth.toordinal(), ind, male))
            p.force_health = True
        return p

    @staticmethod
    def used_hetu_key_of(h: str, birth: date) -> int:
        return birth.toordinal() * 1000 + int(h[7:10])

    # ------------------------------------------------------------------ writing
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

    def write_orgs(self) -> None:
        ts = (self.ref_dt - timedelta(days=200)).isoformat() + ".000Z"
        with open(self.out / "school" / "orgs.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(ONEROSTER_ORG_COLUMNS)
            w.writerow((self.district_id, "active", ts, "Turun kaupunki", "district", "853", ""))
            for key, name, typ, ident, _ in N.SCHOOLS:
                w.writerow((self.org_ids[key], "active", ts, name, typ, ident, self.district_id))

    def emit(self, hh: _Household) -> None:
        rng = self.rng
        members = hh.members
        adults = [p for p in members if p.adult]
        # ---- coverage decisions (twins share their co-twin's)
        cov: dict[int, list] = {}
        for p in members:
            if p.twin is not None and p.twin.pid in cov:
                cov[p.pid] = list(cov[p.twin.pid])
                continue
            a = p.age
            # Shares tuned so that 400,000 persons give about 900,000 source records.
            lib_p = 0.35 if a < 4 else 0.92 if a < 13 else 0.85 if a < 19 else 0.75 if a < 30 else 0.65 if a < 65 else 0.6
            hl_p = 0.92 if a < 7 else 0.7 if a < 19 else 0.62 if a < 30 else 0.72 if a < 65 else 0.92
            tr_p = 0.0 if a < 7 else 0.75 if a < 19 else 0.85 if a < 30 else 0.5 if a < 65 else 0.6
            if hh.turva:
                hl_p = 0.95
            lib = rng.random() < lib_p
            health = p.force_health or rng.random() < hl_p
            transit = rng.random() < tr_p
            cov[p.pid] = [lib, health, transit, False]
        # school: Turku children 6..18 and their guardians
        students: list[_Person] = []
        if hh.addr[2] == "Turku":
            for p in members:
                if not p.adult and 6 <= p.age <= 18:
                    if p.twin is not None and p.twin in students:
                        ok = True
                    else:
                        ok = rng.random() < (0.95 if p.age <= 15 else 0.75)
                    if ok:
                        students.append(p)
                        cov[p.pid][3] = True
        guardians: list[_Person] = []
        if students:
            guardians = [a for a in adults if rng.random() < 0.97] or adults[:1]
            for g in guardians:
                cov[g.pid][3] = True
        nrec = {p.pid: sum(cov[p.pid]) for p in members}

        # ---- library (adults first so children can name a guarantor)
        lib_bn: dict[int, int] = {}
        for p in members:
            if cov[p.pid][0]:
                vis = nrec[p.pid] >= 2
                guar = None
                if not p.adult and p.age < 18:
                    cands = [a for a in adults if a.pid in lib_bn]
                    if cands:
                        guar = rng.choice(cands)
                bn = self.library(p, hh, adults, guar, lib_bn, vis, old=False)
                lib_bn[p.pid] = bn
                if p.age >= 12 and self.case("library_dup_card"):
                    self.library(p, hh, adults, None, lib_bn, True, old=True)
        # ---- school
        if students:
            self.school(hh, students, guardians, nrec)
        # ---- health
        for p in members:
            if cov[p.pid][1]:
                self.health(p, hh, adults, nrec[p.pid] >= 2)
        # ---- transit
        for p in members:
            if cov[p.pid][2]:
                self.transit(p, hh, adults, nrec[p.pid] >= 2)

    def _truth(self, source: str, sid: str, p: _Person, hh: _Household) -> None:
        self.truth.writerow((source, sid, f"P{p.pid:07d}", f"H{hh.hid:07d}"))
        self.counts[source] += 1

    def contact_for(self, p: _Person, adults: list[_Person], hh: _Household
                    ) -> tuple[str | None, str | None]:
        """(mobile nsn, email) a library/transit record of p carries."""
        rng = self.rng
        if not p.adult and p.age < 15 and adults:
            parent = rng.choice(adults)
            mob = p.mobile
            if parent.mobile and self.case("child_parent_phone"):
                mob = parent.mobile
            em = None
            if parent.email and self.case("child_parent_email"):
                em = parent.email
            return mob, em
        mob = p.mobile if rng.random() < 0.92 else None
        em = p.email if rng.random() < 0.85 else None
        return mob, em

    def library(self, p: _Person, hh: _Household, adults: list[_Person], guar: _Person | None,
                lib_bn: dict[int, int], vis: bool, *, old: bool) -> int:
        rng = self.rng
        bn = self.lib_ids.take()
        card = f"2{(bn * 7919 + self.card_salt) % 10**9:09d}"
        surname = p.surname
        if p.maiden and ((old and rng.random() < 0.6) or self.case("library_maiden", vis)):
            surname = p.maiden
        first = " ".join(p.given) if rng.random() < 0.6 else p.call
        if old or self.case("library_folded", vis):
            if old and rng.random() < 0.5 or not old:
                first, surname = fold(first), fold(surname)
        if self.case("typo_library", vis):
            if rng.random() < 0.6:
                surname = self.typo(surname)
            else:
                first = self.typo(first)
        dob = "" if rng.random() < 0.02 else self.birth_text(p.birth, may_swap=True, may_break=True, visible=vis)
        sex = ("M" if p.male else "F") if rng.random() < 0.95 else ""
        if old:
            mob, em = (p.mobile if rng.random() < 0.5 else None), None
        else:
            mob, em = self.contact_for(p, adults, hh)
        phone = self.fmt_phone(hh.landline, (0.3, 0.7, 0.85, 0.9, 0.95)) if hh.landline and rng.random() < 0.4 else ""
        if hh.prev and (old or self.case("library_old_address", vis)):
            addr = hh.prev
        else:
            addr = hh.addr
        city = addr[2].upper() if rng.random() < 0.05 else addr[2]
        branches = N.LIBRARY_BRANCHES[addr[2]] if rng.random() < 0.85 else N.LIBRARY_BRANCHES["Turku"]
        a = p.age
        cat = "LAPSI" if a < 13 else "NUORI" if a < 18 else "HENKILO"
        born = p.birth.toordinal()
        lo = max(born + 365 * 2, date(1998, 1, 1).toordinal())
        if old:
            enrolled = self.rand_date(lo, max(lo + 1, self.ref_ord - 365 * 6))
        else:
            enrolled = self.rand_date(max(lo, self.ref_ord - 365 * 12), self.ref_ord - 30)
        attrs = []
        if not old and rng.random() < 0.2:
            h = p.hetu
            if self.case("library_bad_hetu", vis):
                wrong = HETU_CHARS[(HETU_CHARS.index(h[10]) + rng.randint(1, 30)) % 31]
                h = h[:10] + wrong
            attrs.append(f"HETU:{h}")
        if rng.random() < 0.6:
            attrs.append(f"KOTIKUNTA:{N.MUNICIPALITY_CODE[addr[2]]}")
        gid, grel = "", ""
        if guar is not None:
            gid = str(lib_bn[guar.pid])
            grel = "huoltaja" if rng.random() < 0.1 or guar.role == "PRN" else ("äiti" if guar.role == "MTH" else "isä")
        row = (
            bn, card, surname, first, dob, sex, self.write_email(em), phone,
            self.fmt_phone(mob, (0.3, 0.65, 0.8, 0.92, 0.96)),
            self.write_street(addr[0]), addr[1], city, rng.choice(branches), cat, enrolled.isoformat(),
            self.ts().isoformat(" "), ",".join(attrs), gid, grel,
        )
        self.s_lib.row(self.lib_ids.bucket(bn, self.NB), f"{bn:012d}", row)
        self._truth("library", str(bn), p, hh)
        return bn

    def school(self, hh: _Household, students: list[_Person], guardians: list[_Person],
               nrec: dict[int, int]) -> None:
        rng = self.rng
        sid = {p.pid: self.uuid() for p in students}
        gid = {p.pid: self.uuid() for p in guardians}
        orgs_of_student = {}
        for p in students:
            a = p.age
            stage = "primary" if a <= 12 else "lower" if a <= 15 else "upper"
            lst = self.schools[stage]
            key = lst[hh.area % len(lst)][0] if rng.random() < 0.85 else rng.choice(lst)[0]
            if p.twin is not None and p.twin.pid in orgs_of_student:
                key = orgs_of_student[p.twin.pid]
            orgs_of_student[p.pid] = key
        g_ids = ",".join(gid[g.pid] for g in guardians)
        for p in students:
            vis = nrec[p.pid] >= 2
            s = sid[p.pid]
            a = p.age
            grade = "KG" if a <= 6 else f"{a - 6:02d}"
            wilma = self.wilma_ids.take()
            uid = f"{{WILMA:{wilma}}}"
            if rng.random() < 0.9:
                uid = f"{{HETU:{p.hetu}}},{uid}"
            if rng.random() < 0.8:
                given, middle = p.call, " ".join(x for x in p.given if x != p.call)
            else:
                given, middle = " ".join(p.given), ""
            family = p.surname
            if self.case("typo_school", vis):
                family = self.typo(family)
            email = ""
            if a >= 10:
                local = fold(f"{p.call}.{p.surname}").lower().replace(" ", "").replace("-", "")
                email = f"{local}@edu.turku.fi"
                while email in self.used_email:
                    email = f"{local}{rng.randint(1, 99)}@edu.turku.fi"
                self.used_email.add(email)
            username = email.split("@")[0] if email else f"{fold(p.call).lower()}{wilma}"
            sms = self.fmt_phone(p.mobile, (0.3, 0.6, 0.7, 0.85, 0.95)) if a >= 13 else ""
            ts = self.ts().isoformat() + ".000Z"
            row = (s, "active", ts, "true", self.org_ids[orgs_of_student[p.pid]], "student", username,
                   uid, given, family, middle, str(wilma), email, sms, "", g_ids, grade, "")
            self.s_users.row(int(s[0], 16), s, row)
            bd = self.birth_text(p.birth, may_swap=True, may_break=False, visible=vis)
            drow = (s, "active", ts, bd, "male" if p.male else "female", "", "", "", "", "", "", "", "",
                    "", "", "")
            self.s_demo.row(int(s[0], 16), s, drow)
            self._truth("school", s, p, hh)
        s_ids = ",".join(sid[p.pid] for p in students)
        g_orgs = ",".join(dict.fromkeys(self.org_ids[orgs_of_student[p.pid]] for p in students))
        for g in guardians:
            vis = nrec[g.pid] >= 2
            s = gid[g.pid]
            role = "guardian" if rng.random() < 0.7 else "parent"
            family = g.surname
            if self.case("typo_school", vis):
                family = self.typo(family)
            phone = self.fmt_phone(hh.landline, (0.3, 0.7, 0.8, 0.9, 0.95)) if hh.landline and rng.random() < 0.5 else ""
            row = (s, "active", self.ts().isoformat() + ".000Z", "true", g_orgs, role, "", "",
                   g.call, family, "", "", self.write_email(g.email),
                   self.fmt_phone(g.mobile, (0.3, 0.6, 0.7, 0.85, 0.95)), phone, s_ids, "", "")
            self.s_users.row(int(s[0], 16), s, row)
            self._truth("school", s, g, hh)

    def telecom(self, mob: str | None, email: str | None, landline: str | None) -> list[dict]:
        t = []
        if mob:
            t.append({"system": "phone", "value": self.fmt_phone(mob, (0.1, 0.2, 0.25, 0.85, 0.95)),
                      "use": "mobile"})
        if landline:
            t.append({"system": "phone", "value": self.fmt_phone(landline, (0.1, 0.3, 0.35, 0.85, 0.95)),
                      "use": "home"})
        if email:
            t.append({"system": "email", "value": self.write_email(email)})
        return t

    @staticmethod
    def fhir_address(a: tuple[str, str, str], use: str) -> dict:
        return {"use": use, "line": [a[0]], "postalCode": a[1], "city": a[2], "country": "FI"}

    def health(self, p: _Person, hh: _Household, adults: list[_Person], vis: bool) -> None:
        rng = self.rng
        pid = self.uuid()
        res: dict = {"resourceType": "Patient", "id": pid}
        meta: dict = {"lastUpdated": self.ts().isoformat() + "Z"}
        if hh.turva:
            meta["security"] = [{"system": SECURITY_SYSTEM, "code": "TURVAKIELTO", "display": "Turvakielto"}]
        res["meta"] = meta
        # the century-pair people keep their real HETU (the point is to see both)
        if not p.force_health and self.case("health_temp_only", vis):
            res["identifier"] = [{"use": "temp", "system": rng.choice(TEMP_ID_SYSTEMS),
                                  "value": self.temp_hetu(p.birth, p.male)}]
        else:
            res["identifier"] = [{"use": "official", "system": HETU_SYSTEM, "value": p.hetu}]
        res["active"] = True
        family, given = p.surname, list(p.given)
        if self.case("typo_health", vis):
            if rng.random() < 0.5:
                family = self.typo(family)
            else:
                given[0] = self.typo(given[0])
        names = [{"use": "official", "family": family, "given": given}]
        if p.maiden and self.case("health_maiden", vis):
            names.append({"use": "maiden" if rng.random() < 0.7 else "old", "family": p.maiden,
                          "given": list(p.given)})
        res["name"] = names
        if p.adult or p.age >= 15:
            tel = self.telecom(p.mobile if rng.random() < 0.9 else None,
                               p.email if rng.random() < 0.4 else None,
                               hh.landline if hh.landline and rng.random() < 0.5 else None)
            if tel:
                res["telecom"] = tel
        res["gender"] = "male" if p.male else "female"
        res["birthDate"] = self.birth_text(p.birth, may_swap=True, may_break=False, visible=vis)
        if hh.prev and self.case("health_old_address_only", vis):
            res["address"] = [self.fhir_address(hh.prev, "home")]
        elif hh.prev and self.case("health_old_address_kept", vis):
            res["address"] = [self.fhir_address(hh.addr, "home"), self.fhir_address(hh.prev, "old")]
        else:
            res["address"] = [self.fhir_address(hh.addr, "home")]
        if not p.adult and p.age < 18 and adults:
            contacts = []
            for a in adults:
                code = a.role or "GUARD"
                if code != "PRN" and rng.random() < 0.4:
                    code = "GUARD"
                c = {"relationship": [{"coding": [{"system": ROLE_SYSTEM, "code": code}]}],
                     "name": {"family": a.surname, "given": [a.call]}}
                tel = self.telecom(a.mobile, a.email if rng.random() < 0.3 else None, None)
                if tel:
                    c["telecom"] = tel
                contacts.append(c)
            res["contact"] = contacts
        self.s_health.line(int(pid[0], 16), pid, json.dumps(res, ensure_ascii=False, separators=(",", ":")))
        self._truth("health", pid, p, hh)
        if not p.force_health and self.case("health_temp_duplicate"):
            tid = self.uuid()
            dup = {
                "resourceType": "Patient", "id": tid,
                "meta": {"lastUpdated": self.ts().isoformat() + "Z"},
                "identifier": [{"use": "temp", "system": rng.choice(TEMP_ID_SYSTEMS),
                                "value": self.temp_hetu(p.birth, p.male)}],
                "active": rng.random() < 0.5,
                "name": [{"use": "official", "family": p.surname, "given": [p.call]}],
                "gender": "male" if p.male else "female",
                "birthDate": p.birth.isoformat(),
            }
            self.s_health.line(int(tid[0], 16), tid, json.dumps(dup, ensure_ascii=False, separators=(",", ":")))
            self._truth("health", tid, p, hh)

    def transit_group(self, age: int) -> str:
        rng = self.rng
        if age < 17:
            return "child"
        if age < 25:
            return "student" if (age >= 19 and rng.random() < 0.45) else "youth"
        if age < 65:
            return "disabled" if rng.random() < 0.02 else ("student" if age < 30 and rng.random() < 0.3 else "adult")
        return "senior"

    def transit(self, p: _Person, hh: _Household, adults: list[_Person], vis: bool) -> None:
        rng = self.rng
        born = p.birth.toordinal()
        lo = max(born + 7 * 365, date(2006, 1, 1).toordinal())
        hi = self.ref_ord - 1
        # the active card is mostly recent; older cards were lost or closed before it
        if rng.random() < 0.75:
            main_issued = self.rand_date(max(lo, hi - 8 * 365), hi)
        else:
            main_issued = self.rand_date(lo, hi)
        cards: list[tuple[str, int]] = []  # (status, issued ordinal)
        if self.case("transit_lost_card") and main_issued.toordinal() - lo > 60:
            lost_issued = self.rand_date(lo, main_issued.toordinal() - 30)
            cards.append(("lost", lost_issued.toordinal()))
        if self.case("transit_closed_card"):
            first = min([c[1] for c in cards] + [main_issued.toordinal()])
            if first - lo > 60:
                cards.append(("closed", self.rand_date(lo, first - 30).toordinal()))
        cards.append(("active", main_issued.toordinal()))
        old_reg = date(2014, 7, 1).toordinal()
        for status, issued in cards:
            if status == "active":
                group = self.transit_group(p.age)
            else:
                group = self.transit_group(int((issued - born) / 365.2425))
            with_hetu = rng.random() < (0.12 if group == "adult" else 0.95)
            card_type = "season" if rng.random() < 0.3 else (
                "tupla" if group == "adult" and rng.random() < 0.1 else "personal_value")
            serial = self.card_ids.take()
            num = f"924600{serial:010d}"
            first_names = " ".join(p.given) if (with_hetu and rng.random() < 0.7) else p.call
            surname = p.surname
            if p.maiden and (status != "active" or self.case("transit_maiden", vis)):
                surname = p.maiden
            if issued < old_reg:  # older part of the registry: ASCII upper case
                first_names, surname = fold(first_names).upper(), fold(surname).upper()
            if self.case("typo_transit", vis):
                if rng.random() < 0.6:
                    surname = self.typo(surname)
                else:
                    first_names = self.typo(first_names)
            hetu = p.hetu if with_hetu else ""
            if with_hetu or rng.random() < 0.4:
                bd = self.birth_text(p.birth, may_swap=True, may_break=True, visible=vis)
            else:
                bd = ""
            mob, em = self.contact_for(p, adults, hh)
            moved_old = hh.prev is not None and (status != "active" or self.case("transit_old_address", vis))
            addr = hh.prev if moved_old else hh.addr
            if rng.random() < 0.15:
                street, postal, city = "", "", ""
            else:
                street, postal, city = self.write_street(addr[0]), addr[1], addr[2]
                if issued < old_reg:
                    street, city = fold(street).upper(), fold(city).upper()
            row = (num, card_type, group, first_names, surname, bd, hetu,
                   self.fmt_phone(mob, (0.45, 0.6, 0.7, 0.95, 0.97)), self.write_email(em),
                   street, postal, city, status, date.fromordinal(issued).isoformat(),
                   self.ts().isoformat(timespec="seconds"))
            self.s_transit.row(self.card_ids.bucket(serial, self.NB), num, row)
            self._truth("transit", num, p, hh)


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
