"""Tests of the synthetic Turku population generator (mdm.demo_data).

Every hard case is checked in the written data itself (joined with truth.csv),
not in the generator's own bookkeeping.
"""
from __future__ import annotations

import csv
import filecmp
import json
import re
import tomllib
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from stdnum.exceptions import InvalidChecksum
from stdnum.fi import hetu as stdhetu

from mdm.demo_data import REFERENCE_DATE, generate

PERSONS = 2000
SEED = 20261130

KOHA = ["borrowernumber", "cardnumber", "surname", "firstname", "dateofbirth", "sex", "email", "phone",
        "smsalertnumber", "address", "zipcode", "city", "branchcode", "categorycode", "dateenrolled",
        "updated_on", "patron_attributes", "guarantor_id", "guarantor_relationship"]
USERS = ["sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role", "username",
         "userIds", "givenName", "familyName", "middleName", "identifier", "email", "sms", "phone",
         "agentSourcedIds", "grades", "password"]
FOLI = ["card_number", "card_type", "customer_group", "holder_first_names", "holder_last_name",
        "holder_birth_date", "holder_hetu", "phone", "email", "street_address", "postal_code", "city",
        "status", "issued_on", "updated_at"]
TRUTH = ["source", "source_id", "person_id", "household_id"]
FOLD = str.maketrans("äöåÄÖÅéüÉÜ", "aoaAOAeuEU")


def norm(s: str) -> str:
    return " ".join(s.translate(FOLD).lower().replace(".", " ").split())


def phone_key(s: str) -> str:
    d = re.sub(r"\D", "", s)
    if d.startswith("358"):
        d = "0" + d[3:]
    return d


def hetu_date(h: str) -> date:
    century = 2000 if h[6] in "ABCDEF" else 1900
    return date(century + int(h[4:6]), int(h[2:4]), int(h[0:2]))


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as f:
        r = csv.DictReader(f)
        rows = list(r)
        return list(r.fieldnames or []), rows


class Data:
    def __init__(self, root: Path, counts: dict[str, int]) -> None:
        self.root, self.counts = root, counts
        self.lib_cols, self.lib = read_csv(root / "library" / "patrons.csv")
        self.users_cols, self.users = read_csv(root / "school" / "users.csv")
        self.demo_cols, self.demo = read_csv(root / "school" / "demographics.csv")
        self.orgs_cols, self.orgs = read_csv(root / "school" / "orgs.csv")
        self.tr_cols, self.transit = read_csv(root / "transit" / "cards.csv")
        self.truth_cols, self.truth = read_csv(root / "truth.csv")
        with open(root / "health" / "patients.ndjson", encoding="utf-8") as f:
            self.health = [json.loads(line) for line in f]
        self.who = {(t["source"], t["source_id"]): (t["person_id"], t["household_id"]) for t in self.truth}

    def person(self, source: str, sid: str) -> str:
        return self.who[(source, sid)][0]

    def household(self, source: str, sid: str) -> str:
        return self.who[(source, sid)][1]

    def official(self, pat: dict) -> dict:
        return next(n for n in pat["name"] if n["use"] == "official")

    def hetus(self) -> list[tuple[str, str, str, str]]:
        """(source, source_id, hetu, where) for every HETU written anywhere."""
        out = []
        for r in self.lib:
            m = re.search(r"HETU:([^,]+)", r["patron_attributes"])
            if m:
                out.append(("library", r["borrowernumber"], m.group(1), "attr"))
        for r in self.users:
            m = re.search(r"\{HETU:([^}]+)\}", r["userIds"])
            if m:
                out.append(("school", r["sourcedId"], m.group(1), "userIds"))
        for p in self.health:
            for i in p.get("identifier", []):
                out.append(("health", p["id"], i["value"], i["system"]))
        for r in self.transit:
            if r["holder_hetu"]:
                out.append(("transit", r["card_number"], r["holder_hetu"], "holder_hetu"))
        return out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    root = tmp_path_factory.mktemp("demo")
    counts = generate(root, PERSONS, SEED)
    return Data(root, counts)


# ---------------------------------------------------------------- layout
def test_files_and_headers(data: Data) -> None:
    assert data.lib_cols == KOHA
    assert data.users_cols == USERS
    assert data.demo_cols[:5] == ["sourcedId", "status", "dateLastModified", "birthDate", "sex"]
    assert data.orgs_cols[:5] == ["sourcedId", "status", "dateLastModified", "name", "type"]
    assert data.tr_cols == FOLI
    assert data.truth_cols == TRUTH
    assert any(o["type"] == "district" for o in data.orgs) and sum(o["type"] == "school" for o in data.orgs) >= 3
    for p in data.health:
        assert p["resourceType"] == "Patient" and p["id"]
    assert (data.root / "manifest.json").exists()


def test_mdm_toml(data: Data) -> None:
    cfg = tomllib.loads((data.root / "mdm.toml").read_text(encoding="utf-8"))
    assert "store" in cfg
    got = {(s["name"], s["connector"], s["path"]) for s in cfg["sources"]}
    assert got == {("library", "koha-csv", "library/patrons.csv"), ("school", "oneroster-csv", "school"),
                   ("health", "fhir-ndjson", "health/patients.ndjson"),
                   ("transit", "foli-csv", "transit/cards.csv")}
    for s in cfg["sources"]:
        assert (data.root / s["path"]).exists()


def test_truth_covers_every_record_and_nothing_else(data: Data) -> None:
    written = ({("library", r["borrowernumber"]) for r in data.lib}
               | {("school", r["sourcedId"]) for r in data.users}
               | {("health", p["id"]) for p in data.health}
               | {("transit", r["card_number"]) for r in data.transit})
    n_written = len(data.lib) + len(data.users) + len(data.health) + len(data.transit)
    assert len(written) == n_written, "source ids must be unique per source"
    keys = [(t["source"], t["source_id"]) for t in data.truth]
    assert len(keys) == len(set(keys))
    assert set(keys) == written
    assert all(t["person_id"] and t["household_id"] for t in data.truth)
    persons = {t["person_id"] for t in data.truth}
    assert 0.8 * PERSONS <= len(persons) <= PERSONS
    assert data.counts == {"library": len(data.lib), "school": len(data.users), "health": len(data.health),
                           "transit": len(data.transit)}
    # demographics belong to students only
    students = {r["sourcedId"] for r in data.users if r["role"] == "student"}
    assert {d["sourcedId"] for d in data.demo} == students


def test_files_sorted_by_id(data: Data) -> None:
    bns = [int(r["borrowernumber"]) for r in data.lib]
    assert bns == sorted(bns)
    cards = [r["card_number"] for r in data.transit]
    assert cards == sorted(cards)
    ids = [p["id"] for p in data.health]
    assert ids == sorted(ids)


def test_coverage_is_plausible(data: Data) -> None:
    per = defaultdict(set)
    for t in data.truth:
        per[t["source"]].add(t["person_id"])
    assert 0.55 <= len(per["library"]) / PERSONS <= 0.80
    assert 0.60 <= len(per["health"]) / PERSONS <= 0.85
    assert 0.45 <= len(per["transit"]) / PERSONS <= 0.70
    assert 0.05 <= len(per["school"]) / PERSONS <= 0.30


def test_timestamps_within_two_years(data: Data) -> None:
    lo = datetime.combine(REFERENCE_DATE, datetime.min.time()) - timedelta(days=731)
    hi = datetime.combine(REFERENCE_DATE, datetime.max.time())

    def ok(s: str) -> bool:
        d = datetime.fromisoformat(s.replace("Z", "+00:00")).replace(tzinfo=None)
        return lo <= d <= hi

    assert all(ok(r["updated_on"]) for r in data.lib)
    assert all(ok(r["dateLastModified"]) for r in data.users)
    assert all(ok(p["meta"]["lastUpdated"]) for p in data.health)
    assert all(ok(r["updated_at"]) for r in data.transit)


# ---------------------------------------------------------------- HETUs
def test_hetus_valid_except_the_deliberately_bad(data: Data) -> None:
    all_h = data.hetus()
    assert len(all_h) > PERSONS * 0.6
    invalid = [(s, h) for s, _, h, _ in all_h if not stdhetu.is_valid(h, allow_temporary=True)]
    # only the library's deliberately broken check characters, and only a few
    assert invalid and all(s == "library" for s, _ in invalid)
    lib_h = [h for s, _, h, _ in all_h if s == "library"]
    assert len(invalid) <= max(5, 0.02 * len(lib_h))
    for _, h in invalid:
        with pytest.raises(InvalidChecksum):
            stdhetu.validate(h, allow_temporary=True)
    # HETU presence per source
    students = [r for r in data.users if r["role"] == "student"]
    with_h = sum("{HETU:" in r["userIds"] for r in students)
    assert with_h / len(students) > 0.8
    assert all(re.search(r"\{WILMA:\d+\}", r["userIds"]) for r in students)
    assert sum("HETU:" in r["patron_attributes"] for r in data.lib) / len(data.lib) < 0.5
    child_cards = [r for r in data.transit if r["customer_group"] == "child"]
    assert sum(bool(r["holder_hetu"]) for r in child_cards) / len(child_cards) > 0.8


def test_sex_matches_hetu_parity(data: Data) -> None:
    for p in data.health:
        for i in p["identifier"]:
            if i["system"] == "urn:oid:1.2.246.21":
                assert (int(i["value"][7:10]) % 2 == 1) == (p["gender"] == "male")


def test_temporary_ids_in_health(data: Data) -> None:
    temps = [(p, i) for p in data.health for i in p["identifier"] if i["system"].startswith("urn:oid:1.2.246.10.")]
    assert temps
    for _, i in temps:
        assert 900 <= int(i["value"][7:10]) <= 999
        assert stdhetu.is_valid(i["value"], allow_temporary=True)
        assert not stdhetu.is_valid(i["value"])
    # real HETUs in health are never temporary
    for p in data.health:
        for i in p["identifier"]:
            if i["system"] == "urn:oid:1.2.246.21":
                assert stdhetu.is_valid(i["value"])
    # a person known to health only by a temporary id has a real HETU elsewhere, or a second Patient
    temp_people = {data.person("health", p["id"]) for p, _ in temps}
    real_elsewhere = {data.person(s, sid) for s, sid, h, _ in data.hetus() if stdhetu.is_valid(h)}
    assert temp_people & real_elsewhere


def test_century_sign_pairs(data: Data) -> None:
    by_rest = defaultdict(set)
    for s, sid, h, _ in data.hetus():
        if stdhetu.is_valid(h):
            by_rest[h[:6] + h[7:]].add((h[6], data.person(s, sid), data.household(s, sid)))
    pairs = []
    for rest, seen in by_rest.items():
        signs = {x[0] for x in seen}
        if {"-", "Y"} <= signs:
            dash = {x[1:] for x in seen if x[0] == "-"}
            why = {x[1:] for x in seen if x[0] == "Y"}
            assert not ({p for p, _ in dash} & {p for p, _ in why}), "the two signs must be two people"
            assert not ({h for _, h in dash} & {h for _, h in why}), "unrelated people (other households)"
            pairs.append(rest)
    assert len(pairs) >= 1
    # and never accidental: the same sign + rest always one person
    for rest, seen in by_rest.items():
        for sign in {x[0] for x in seen}:
            assert len({x[1] for x in seen if x[0] == sign}) == 1, rest


# ---------------------------------------------------------------- hard cases
def test_family_shares_phone_and_email(data: Data) -> None:
    phones = defaultdict(set)
    emails = defaultdict(set)

    def add(source: str, sid: str, ph: list[str], em: list[str]) -> None:
        who = data.who[(source, sid)]
        for x in ph:
            if x:
                phones[phone_key(x)].add(who)
        for x in em:
            if x:
                emails[x.lower()].add(who)

    for r in data.lib:
        add("library", r["borrowernumber"], [r["phone"], r["smsalertnumber"]], [r["email"]])
    for r in data.transit:
        add("transit", r["card_number"], [r["phone"]], [r["email"]])
    for r in data.users:
        add("school", r["sourcedId"], [r["sms"], r["phone"]], [r["email"]])
    for p in data.health:
        add("health", p["id"], [t["value"] for t in p.get("telecom", []) if t["system"] == "phone"],
            [t["value"] for t in p.get("telecom", []) if t["system"] == "email"])

    def shared_in_family(index: dict) -> int:
        n = 0
        for who in index.values():
            if len({p for p, _ in who}) >= 2:
                assert len({h for _, h in who}) == 1, "contact data is shared only inside a household"
                n += 1
        return n

    assert shared_in_family(phones) >= 3
    assert shared_in_family(emails) >= 3
    # several written forms of phone numbers
    forms = {re.sub(r"\d", "9", r["smsalertnumber"]) for r in data.lib if r["smsalertnumber"]}
    assert {"9999999999", "999 999 9999", "999-9999999", "+999999999999"} <= forms


def test_twins(data: Data) -> None:
    groups = defaultdict(list)
    for p in data.health:
        for i in p["identifier"]:
            if i["system"] == "urn:oid:1.2.246.21":
                groups[(data.household("health", p["id"]), i["value"][:7])].append((p, i["value"]))
    twins = same_address = 0
    for ps in groups.values():
        people = {data.person("health", p["id"]) for p, _ in ps}
        if len(people) >= 2:
            fams = {norm(data.official(p)["family"]) for p, _ in ps}
            givens = {data.official(p)["given"][0] for p, _ in ps}
            hs = {h for _, h in ps}
            if len(hs) >= 2 and len(givens) >= 2 and len(fams) == 1:
                twins += 1
                same_address += len({p["address"][0]["line"][0] for p, _ in ps}) == 1
    assert twins >= 1 and same_address >= 1


def test_calling_name_is_second_given_name(data: Data) -> None:
    names = defaultdict(set)
    for r in data.lib:
        names[data.person("library", r["borrowernumber"])].add(norm(r["firstname"]))
    for r in data.users:
        names[data.person("school", r["sourcedId"])].add(norm(r["givenName"]))
    for p in data.health:
        names[data.person("health", p["id"])].add(norm(" ".join(data.official(p)["given"])))
    for r in data.transit:
        names[data.person("transit", r["card_number"])].add(norm(r["holder_first_names"]))
    found = 0
    for variants in names.values():
        singles = {v for v in variants if " " not in v}
        for full in variants:
            toks = full.split()
            if len(toks) >= 2 and toks[1] in singles and toks[0] not in singles:
                found += 1
    assert found >= 3


def test_maiden_names(data: Data) -> None:
    maiden = {}
    for p in data.health:
        for n in p["name"]:
            if n["use"] in ("maiden", "old"):
                maiden[data.person("health", p["id"])] = norm(n["family"])
    assert len(maiden) >= 3
    elsewhere = 0
    for r in data.lib:
        if maiden.get(data.person("library", r["borrowernumber"])) == norm(r["surname"]):
            elsewhere += 1
    for r in data.transit:
        if maiden.get(data.person("transit", r["card_number"])) == norm(r["holder_last_name"]):
            elsewhere += 1
    assert elsewhere >= 1


def test_moves_leave_old_addresses(data: Data) -> None:
    addrs = defaultdict(set)
    old_use = 0
    for r in data.lib:
        addrs[data.person("library", r["borrowernumber"])].add(norm(r["address"]))
    for r in data.transit:
        if r["street_address"]:
            addrs[data.person("transit", r["card_number"])].add(norm(r["street_address"]))
    for p in data.health:
        for a in p.get("address", []):
            if a["use"] == "home":
                addrs[data.person("health", p["id"])].add(norm(a["line"][0]))
            else:
                old_use += 1
    assert old_use >= 1
    assert sum(len(v) >= 2 for v in addrs.values()) >= 2


def test_typos_and_swapped_dates(data: Data) -> None:
    def close(a: str, b: str) -> bool:  # one edit (insert/delete/replace) or adjacent swap
        if a == b or abs(len(a) - len(b)) > 1:
            return False
        if len(a) == len(b):
            diff = [i for i in range(len(a)) if a[i] != b[i]]
            return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                       and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
        s, t = (a, b) if len(a) < len(b) else (b, a)
        return any(t[:i] + t[i + 1:] == s for i in range(len(t)))

    surnames = defaultdict(set)
    births = defaultdict(set)
    for r in data.lib:
        pid = data.person("library", r["borrowernumber"])
        surnames[pid].add(norm(r["surname"]))
        births[pid].add(r["dateofbirth"])
    for r in data.transit:
        pid = data.person("transit", r["card_number"])
        surnames[pid].add(norm(r["holder_last_name"]))
        births[pid].add(r["holder_birth_date"])
    for p in data.health:
        pid = data.person("health", p["id"])
        surnames[pid].add(norm(data.official(p)["family"]))
        births[pid].add(p["birthDate"])
    for d in data.demo:
        births[data.person("school", d["sourcedId"])].add(d["birthDate"])
    typos = sum(any(close(a, b) for a in v for b in v if a < b) for v in surnames.values())
    assert typos >= 2
    swaps = 0
    for v in births.values():
        for b in v:
            m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", b)
            if m and m.group(2) != m.group(3) and f"{m.group(1)}-{m.group(3)}-{m.group(2)}" in v:
                swaps += 1
    assert swaps >= 2  # each swap is seen from both sides


def test_lost_diacritics_and_upper_case(data: Data) -> None:
    upper = [r for r in data.transit if r["holder_last_name"] and r["holder_last_name"].isupper()]
    assert upper and all(not re.search("[äöåÄÖÅ]", r["holder_last_name"] + r["holder_first_names"]) for r in upper)
    health_family = {data.person("health", p["id"]): data.official(p)["family"] for p in data.health}
    folded = 0
    for r in data.lib:
        fam = health_family.get(data.person("library", r["borrowernumber"]))
        if fam and fam != fam.translate(FOLD) and r["surname"] == fam.translate(FOLD):
            folded += 1
    for r in upper:
        fam = health_family.get(data.person("transit", r["card_number"]))
        if fam and fam != fam.translate(FOLD) and r["holder_last_name"] == fam.translate(FOLD).upper():
            folded += 1
    assert folded >= 1


def test_duplicate_cards_inside_a_source(data: Data) -> None:
    lib = defaultdict(list)
    for r in data.lib:
        lib[data.person("library", r["borrowernumber"])].append(r)
    dups = [v for v in lib.values() if len(v) >= 2]
    assert dups and all(len({r["cardnumber"] for r in v}) == len(v) for v in dups)
    cards = defaultdict(set)
    for r in data.transit:
        cards[data.person("transit", r["card_number"])].add(r["status"])
    assert any({"lost", "active"} <= s for s in cards.values())
    active_per_person = defaultdict(int)
    for r in data.transit:
        active_per_person[data.person("transit", r["card_number"])] += r["status"] == "active"
    assert all(n == 1 for n in active_per_person.values())


def test_school_guardians_only_name_and_contact(data: Data) -> None:
    guardians = [r for r in data.users if r["role"] in ("guardian", "parent")]
    assert guardians
    for g in guardians:
        assert g["userIds"] == "" and g["identifier"] == ""
        assert g["givenName"] and g["familyName"]
        assert ("school", g["sourcedId"]) in data.who
    assert sum(bool(g["email"] or g["sms"] or g["phone"]) for g in guardians) / len(guardians) > 0.8
    ids = {r["sourcedId"] for r in data.users}
    for s in data.users:
        if s["role"] == "student":
            agents = s["agentSourcedIds"].split(",") if s["agentSourcedIds"] else []
            assert all(a in ids for a in agents)
            for a in agents:  # a guardian lives in the student's household
                assert data.household("school", a) == data.household("school", s["sourcedId"])
    org_ids = {o["sourcedId"] for o in data.orgs}
    assert all(o in org_ids for r in data.users for o in r["orgSourcedIds"].split(","))


def test_library_guarantors(data: Data) -> None:
    bn = {r["borrowernumber"] for r in data.lib}
    with_g = [r for r in data.lib if r["guarantor_id"]]
    assert with_g
    for r in with_g:
        assert r["guarantor_id"] in bn
        assert r["guarantor_relationship"] in ("isä", "äiti", "huoltaja")
        assert data.household("library", r["guarantor_id"]) == data.household("library", r["borrowernumber"])


def test_bad_data(data: Data) -> None:
    def impossible(s: str) -> bool:
        if not s:
            return False
        try:
            date.fromisoformat(s)
            return False
        except ValueError:
            return True

    bad_dates = sum(impossible(r["dateofbirth"]) for r in data.lib) + \
        sum(impossible(r["holder_birth_date"]) for r in data.transit)
    assert 1 <= bad_dates <= 0.01 * (len(data.lib) + len(data.transit))
    bad_hetu = [r for r in data.lib if (m := re.search(r"HETU:([^,]+)", r["patron_attributes"]))
                and not stdhetu.is_valid(m.group(1), allow_temporary=True)]
    assert bad_hetu


def test_turvakielto(data: Data) -> None:
    flagged = [p for p in data.health if any(
        s["code"] == "TURVAKIELTO"
        and s["system"] == "https://hl7.fi/fhir/finnish-base-profiles/CodeSystem/fi-base-security-label-cs"
        for s in p["meta"].get("security", []))]
    assert flagged


def test_fhir_children_have_guardian_contacts(data: Data) -> None:
    kids = [p for p in data.health if p.get("contact")]
    assert kids
    for p in kids:
        for c in p["contact"]:
            code = c["relationship"][0]["coding"][0]
            assert code["system"] == "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
            assert code["code"] in ("GUARD", "PRN", "MTH", "FTH")
            assert set(c) <= {"relationship", "name", "telecom"}
            assert c["name"]["family"]


# ---------------------------------------------------------------- determinism
def _all_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_deterministic_for_a_seed(data: Data, tmp_path: Path) -> None:
    again = tmp_path / "again"
    counts = generate(again, PERSONS, SEED)
    assert counts == data.counts
    files = _all_files(data.root)
    assert files == _all_files(again)
    assert not [str(f) for f in files if not filecmp.cmp(data.root / f, again / f, shallow=False)]


def test_other_seed_differs(data: Data, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate(other, PERSONS, SEED + 1)
    for f in ("library/patrons.csv", "health/patients.ndjson", "transit/cards.csv", "truth.csv"):
        assert (data.root / f).read_bytes() != (other / f).read_bytes()


def test_small_and_empty_runs(tmp_path: Path) -> None:
    counts = generate(tmp_path / "zero", 0, 1)
    assert counts == {"library": 0, "school": 0, "health": 0, "transit": 0}
    _, truth = read_csv(tmp_path / "zero" / "truth.csv")
    assert truth == []
    counts = generate(tmp_path / "one", 1, 1)
    _, truth = read_csv(tmp_path / "one" / "truth.csv")
    assert len(truth) == sum(counts.values()) and len({t["person_id"] for t in truth}) <= 1
