"""Shared building blocks of the demo-data generator: the reference date, the
hard-case table :data:`SHARES`, HETU arithmetic, and the random formatting helpers
(phone numbers, e-mails, addresses, typos, birth dates) that both the population
model (:mod:`.population`) and the source writers (:mod:`.writers`) draw on.

:class:`_FormattingMixin` holds no state of its own; it uses the attributes that
:class:`.generator._Generator` sets up (``rng``, ``ref*``, ``hits``, the
uniqueness sets and counters), so every call consumes the one shared
``random.Random`` exactly as before.
"""
from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta

from . import names as N

REFERENCE_DATE = date(2026, 11, 30)
SOURCES = ("library", "school", "health", "transit")
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


class _FormattingMixin:
    """Random formatting helpers and the hard-case switch (mixed into ``_Generator``)."""

    rng: random.Random
    ref: date
    ref_ord: int
    ref_dt: datetime
    hits: dict[str, int]
    used_hetu: set[int]
    used_temp: set[str]
    used_email: set[str]
    mobile_ctr: dict[str, int]
    mobile_add: dict[str, int]
    land_ctr: int
    land_add: int
    email_domains: list[str]
    email_cw: list[int]
    city_names: list[str]
    city_cw: list[float]

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
