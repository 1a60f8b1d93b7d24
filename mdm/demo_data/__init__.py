"""Synthetic Turku population for demos, tests and benchmarks of PAT-MDM.

``generate(out_dir, persons, seed)`` writes one population of ``persons`` people,
seen through four city source systems, in the exact export formats of
``/work/shared/reference/source-formats.md``::

    out_dir/
      library/patrons.csv          Koha patron CSV (19 Koha columns)
      school/users.csv             OneRoster 1.1 users (students + guardians)
      school/demographics.csv      OneRoster 1.1 demographics (students)
      school/orgs.csv              the district (Turku, 853) and 13 Turku schools
      health/patients.ndjson       FHIR R4 Patient, one per line
      transit/cards.csv            Föli travel-card registry export
      truth.csv                    source, source_id, person_id, household_id for every record
      mdm.toml                     ready source configuration (paths relative to the file)
      manifest.json                seed, persons, households, record counts, hard-case hit counts

It is deterministic for a seed (one ``random.Random(seed)``; the reference
"today" is :data:`REFERENCE_DATE` = 2026-11-30 unless ``reference_date=`` is given)
and streams household by household (measured: 400,000 persons -> 734,027 records
in 23.5 s with 145 MB peak RSS; 20,000 persons in ~1 s). Every source file is sorted by its own id, and the ids
are shuffled, so file order reveals nothing about households.

Population model
----------------
Households: 45% single adults (ages 19-29 45%, 30-64 35%, 65-97 20%), 20% couples
without children (22-64), 17% couples with 1-4 children (0-21 years), 6% single
parents (85% mothers) with 1-3 children, 12% elderly couples (65-92); 1% of couples
are same-sex; 6% of households have immigrant-background names. Addresses: Turku 75%
(postal codes 20100-20900), Kaarina 20780 8%, Raisio 21200 7%, Naantali 21100 5%,
Lieto 21410 5%. 1-3 given names (15/60/25%), valid HETUs (odd individual number =
male); signs '-' / 'A', with 0.3% 'Y' among the 1900s-born and 0.5% 'B' among the
2000s-born. Mobiles are unique per person (040/041/044/045/046/050), written in six
styles (``0401234567``, ``040 123 4567``, ``040-1234567``, ``+358401234567``,
``+358 40 1234567``, ``040 1234567``); 3% of e-mails are written capitalised.

Coverage (per person): library ~54% (children 85%), health ~61% (small children
and the elderly 85%), transit ~44% (none under 7), school = children 6-18 living
in Turku (95%; 75% at 16-18) and their household guardians (97% each), ~16% of
persons; with the in-source duplicates that is ~1.84 records per person. Timestamps
(``updated_on``, ``dateLastModified``, ``meta.lastUpdated``, ``updated_at``) lie
within the two years before the reference date.

Hard cases (shares are per opportunity; the first few *visible* opportunities -
the person has records in >= 2 sources - are forced, so even 1,000 persons contain
every case; :data:`common.SHARES` is the authoritative table and
``manifest.json`` reports the hits of a run):

1. Shared contact data: 15% of households of >= 2 share a landline (elderly couples
   40%); 20% of couples share one e-mail; library/transit records of children under
   15 carry a parent's mobile (70%) / a parent's e-mail (50%).
2. Twins: 0.5% of births are twin births (~1% of children): same birth date,
   surname, address, school and sources (always in health), different given names
   and HETUs.
3. Calling name: 8% of people with >= 2 given names go by the second one; the
   library writes only the calling name in 40% of records, the school uses the
   calling name as ``givenName`` (rest in ``middleName``) in 80%, health always has
   all given names, transit all names on 70% of HETU cards.
4. Maiden names: 65% (90% of 60+) of married women took the spouse's surname, and
   30% of single women 35+ kept a former married name; health lists the maiden name
   (``use`` maiden 70% / old 30%) in 85% of their records, the library still shows
   it in 25% (old library cards 60%), transit in 15% (lost/closed cards always).
5. Moves: 12% of households moved; their library records keep the old address in
   35%, transit cards in 40% (lost/closed cards always), health records have only
   the old address in 10% and new + old (``use: old``) in 45%.
6. Typos (swap/drop/replace/double one letter of a name): library 2%, transit 2%,
   school 1%, health 0.5% of records; day and month swapped in 0.3% of birth dates
   (where the day is <= 12).
7. Lost ä/ö/å: 2% of library records; transit cards issued before 2014-07-01 (the
   older registry) are ASCII UPPER CASE (name, street and city).
8. Duplicates inside one source: 3% of library persons 12+ also have an old
   forgotten card (second borrowernumber); 4% of transit persons have a ``lost``
   card plus the ``active`` replacement, 12% an older ``closed`` card; 0.5% of
   health persons have an extra Patient with only a temporary id.
9. Temporary HETUs: 1% of health records are identified only by a temporary id
   (individual number 900-999, 30% with 1 January as the estimated birth date)
   under ``urn:oid:1.2.246.10.32213294.10.99`` / ``...21.99`` (synthetic systems).
10. Century-sign pairs: 0.01% of 1900s-born single adults (at least 2 pairs per run,
    ~7 per 400,000 persons) get an unrelated "twin" - the next single-adult
    household - born the same day with the same individual number and sign ``Y``
    (``100190-123X`` vs ``100190Y123X``); both are always in health.
11. School guardians have only names, e-mail, ``sms`` and ``phone`` (no birth date,
    no HETU, no demographics row).
12. Bad data: 0.5% of library HETU attributes have a wrong check character; 0.05%
    of library/transit birth dates are impossible (``YYYY-02-30``, ``YYYY-13-DD``,
    ``YYYY-04-31``); 2% of library records have no birth date.

Plus: turvakielto for 0.4% of households (health ``meta.security`` TURVAKIELTO);
HETU presence: health ~99% (rest temporary ids), school students 90%
(``{HETU:...},{WILMA:n}``), transit discount cards 95% (adult cards 12%), library
20% (``patron_attributes`` ``HETU:...``).
"""
from __future__ import annotations

from .generator import REFERENCE_DATE, SHARES, SOURCES, generate

__all__ = ["generate", "REFERENCE_DATE", "SHARES", "SOURCES"]
