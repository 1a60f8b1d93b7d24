"""Per-source writers of the demo-data generator: Koha (library), OneRoster
(school), FHIR R4 Patient (health) and Föli (transit), plus truth.csv.

:meth:`_WritersMixin.emit` makes the coverage decisions for one household and
writes its records; rows go to :class:`_Spool` buckets keyed by source id (ids
from shuffled :class:`_IdPool` blocks or random UUIDs), which ``finish`` writes
out sorted, so file order reveals nothing about households.
"""
from __future__ import annotations

import csv
import json
import os
import random
from datetime import date, timedelta
from pathlib import Path

from . import names as N
from .common import HETU_CHARS, _FormattingMixin, fold
from .population import _Household, _Person

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

HETU_SYSTEM = "urn:oid:1.2.246.21"
#: Synthetic organisation-specific systems for temporary ids (under urn:oid:1.2.246.10.).
TEMP_ID_SYSTEMS = ("urn:oid:1.2.246.10.32213294.10.99", "urn:oid:1.2.246.10.32213294.21.99")
SECURITY_SYSTEM = "https://hl7.fi/fhir/finnish-base-profiles/CodeSystem/fi-base-security-label-cs"
ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


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


class _WritersMixin(_FormattingMixin):
    """Source record writers (mixed into ``_Generator``)."""

    NB = 16  # spool buckets per source file

    out: Path
    counts: dict[str, int]
    lib_ids: _IdPool
    card_ids: _IdPool
    wilma_ids: _IdPool
    card_salt: int
    schools: dict[str, list[tuple]]
    org_ids: dict[str, str]
    district_id: str
    s_lib: _Spool
    s_users: _Spool
    s_demo: _Spool
    s_health: _Spool
    s_transit: _Spool

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
