"""The population model of the demo-data generator: persons and households.

:class:`_PopulationMixin` draws one household at a time (single adults, couples
with or without children, single parents, elderly couples) with names, birth
dates, HETUs and contact data, and decides the household-level hard cases
(moves, shared landline / family e-mail, twins, calling names, maiden names,
century-sign pairs). See the package docstring for the shares.
"""
from __future__ import annotations

from datetime import date

from . import names as N
from .common import SHARES, _FormattingMixin, fold, make_hetu


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


class _PopulationMixin(_FormattingMixin):
    """Person and household generation (mixed into ``_Generator``)."""

    pid: int
    hid: int
    pending_pairs: list[tuple[int, int, bool]]

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
