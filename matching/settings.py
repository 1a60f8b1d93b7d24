"""The Splink model's comparisons and blocking rules, as data turned into SQL late.

Comparisons are built per SQL dialect, because Splink does not translate
custom SQL between backends (a model saved from DuckDB does not run on Spark).
What is trained is kept dialect-free (m and u per level, lambda, term
frequencies) and applied to freshly built settings on whichever backend runs.
"""
from __future__ import annotations

from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator, block_on

#: The few SQL fragments that differ between DuckDB and Spark.
DIALECT_SQL = {
    "duckdb": {
        "first_in_other": "list_contains(given_names_r, first_given_l) OR list_contains(given_names_l, first_given_r)",
        "names_related": "given_names_l IS NULL OR given_names_r IS NULL "
        "OR len(list_intersect(given_names_l, given_names_r)) > 0 "
        "OR jaro_winkler_similarity(first_given_l, first_given_r) >= 0.88",
    },
    "spark": {
        "first_in_other": "array_contains(given_names_r, first_given_l) OR array_contains(given_names_l, first_given_r)",
        "names_related": "given_names_l IS NULL OR given_names_r IS NULL "
        "OR size(array_intersect(given_names_l, given_names_r)) > 0 "
        "OR jaro_winkler(first_given_l, first_given_r) >= 0.88",
    },
}

# Given name and surname entered the wrong way round (not "Ahmed Ahmed": a given name
# equal to one's own surname says nothing about a swap).
SWAPPED = (
    "(first_given_l = surname_r AND first_given_l <> surname_l) "
    "OR (surname_l = first_given_r AND first_given_r <> surname_r)"
)

#: Columns whose term frequencies are frozen with the trained model.
TF_COLUMNS = ("first_given", "surname", "postcode", "city")

# Fixed, not trained: a shared valid HETU is near proof, two different valid
# HETUs near disproof (the identity rules enforce both anyway).
HETU_EQUAL = {"m_probability": 0.97, "u_probability": 1e-9, "fix_m_probability": True, "fix_u_probability": True}
HETU_DIFFERENT = {"m_probability": 0.002, "u_probability": 0.999, "fix_m_probability": True, "fix_u_probability": True}


def _all_null(side: str) -> str:
    cols = ("phone", "email", "address_key", "street", "postcode")
    return "(" + " AND ".join(f"{c}_{side} IS NULL" for c in cols) + ")"


def comparisons(dialect: str) -> list[Any]:
    """The comparisons; ``m_probabilities`` are EM's starting points (small data sets
    otherwise let EM wander off to absurd weights), not fixed values."""
    sql = DIALECT_SQL[dialect]
    return [
        cl.CustomComparison(
            output_column_name="given_names",
            comparison_description="Given names as a set, calling name against full given names",
            comparison_levels=[
                cll.NullLevel("first_given"),
                cll.CustomLevel("given_names_l = given_names_r", "All given names equal"),
                cll.ExactMatchLevel("first_given").configure(tf_adjustment_column="first_given"),
                cll.CustomLevel(sql["first_in_other"], "First name among the other's given names"),
                cll.ArrayIntersectLevel("given_names", min_intersection=1),
                # Given name and surname entered the wrong way round.
                cll.CustomLevel(SWAPPED, "Given name and surname swapped"),
                cll.JaroWinklerLevel("first_given", 0.88),
                cll.ElseLevel(),
            ],
        ).configure(m_probabilities=[0.6, 0.25, 0.05, 0.02, 0.02, 0.03, 0.03]),
        cl.CustomComparison(
            output_column_name="surname",
            comparison_description="Surname, diacritics folded, maiden and double-barrelled parts",
            comparison_levels=[
                cll.NullLevel("surname"),
                cll.ExactMatchLevel("surname").configure(tf_adjustment_column="surname"),
                cll.ArrayIntersectLevel("surnames", min_intersection=1),
                cll.JaroWinklerLevel("surname", 0.9),
                cll.CustomLevel(SWAPPED, "Surname and given name swapped"),
                cll.ElseLevel(),
            ],
        ).configure(m_probabilities=[0.85, 0.05, 0.04, 0.01, 0.05]),
        cl.CustomComparison(
            output_column_name="birth_date",
            comparison_description="Birth date with day/month swap and one-character typos",
            comparison_levels=[
                cll.NullLevel("birth_date"),
                # Twins share a birth date, a surname and an address but not a given name:
                # an equal birth date only counts fully when the given names agree too.
                cll.CustomLevel(
                    "birth_date_l = birth_date_r AND NOT (" + sql["names_related"] + ")",
                    "Birth date equal, given names unrelated",
                ),
                cll.ExactMatchLevel("birth_date"),
                cll.CustomLevel(
                    "birth_date_l = birth_date_swapped_r OR birth_date_swapped_l = birth_date_r",
                    "Day and month swapped",
                ),
                cll.LevenshteinLevel("birth_date", 1),
                cll.ElseLevel(),
            ],
        # No EM pass sees birth dates disagree among likely matches (the HETU pass only
        # sees agreeing ones), so these m stay what is given here: disagreement is rare.
        ).configure(m_probabilities=[0.001, 0.95, 0.005, 0.0001, 0.0001]),
        cl.CustomComparison(
            output_column_name="hetu",
            comparison_description="HETU: valid codes fixed as (dis)proof, temporary/invalid ones weak",
            comparison_levels=[
                cll.NullLevel("hetu_any"),
                cll.CustomLevel("hetu_l = hetu_r", "Same valid HETU").configure(**HETU_EQUAL),
                # Temporary and invalid codes are weak evidence only: fixed, never trained up.
                cll.CustomLevel("hetu_any_l = hetu_any_r", "Same temporary or invalid HETU").configure(
                    m_probability=0.02, u_probability=1e-4, fix_m_probability=True, fix_u_probability=True
                ),
                cll.CustomLevel("hetu_l IS NOT NULL AND hetu_r IS NOT NULL", "Different valid HETUs")
                .configure(**HETU_DIFFERENT),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="sex",
            comparison_levels=[
                cll.NullLevel("sex"),
                cll.ExactMatchLevel("sex"),
                # Data-entry errors happen; a mismatch is strong but not absolute evidence.
                cll.ElseLevel().configure(m_probability=0.005, fix_m_probability=True),
            ],
        ),
        cl.CustomComparison(
            output_column_name="contact",
            comparison_description=(
                "Phone, e-mail and address as one piece of evidence: a value one person holds is "
                "evidence of the person, a value a family shares only of the family, counted once"
            ),
            comparison_levels=[
                cll.CustomLevel(_all_null("l") + " OR " + _all_null("r"), "No contact details").configure(
                    is_null_level=True
                ),
                cll.CustomLevel(
                    "(phone_l = phone_r AND phone_holders_l = 1) OR (email_l = email_r AND email_holders_l = 1)",
                    "Phone or e-mail of one holder",
                ),
                cll.CustomLevel("address_key_l = address_key_r AND address_holders_l = 1",
                                "Address of one holder"),
                cll.CustomLevel(
                    "phone_l = phone_r OR email_l = email_r OR address_key_l = address_key_r",
                    "Phone, e-mail or address shared by a family",
                ),
                # A typo in the street line; not a family's shared address (that is above).
                cll.JaroWinklerLevel("street", 0.92),
                cll.ExactMatchLevel("postcode").configure(tf_adjustment_column="postcode"),
                cll.ElseLevel(),
            ],
        ).configure(m_probabilities=[0.5, 0.1, 0.2, 0.02, 0.05, 0.13]),
        cl.CustomComparison(
            output_column_name="city",
            comparison_description="Municipality or suburb; common ones count little",
            comparison_levels=[
                cll.NullLevel("city"),
                cll.ExactMatchLevel("city").configure(tf_adjustment_column="city"),
                cll.ElseLevel(),
            ],
        ).configure(m_probabilities=[0.8, 0.2]),
        cl.CustomComparison(
            output_column_name="other_id",
            comparison_description="A mapped source's own person identifier, typos tolerated",
            comparison_levels=[
                cll.NullLevel("other_id"),
                cll.ExactMatchLevel("other_id"),
                cll.DamerauLevenshteinLevel("other_id", 1),
                cll.ElseLevel(),
            ],
        ).configure(m_probabilities=[0.9, 0.05, 0.05]),
    ]


def blocking_rules() -> list[Any]:
    """Candidate pairs: each rule catches what the others miss (maiden name, calling name, typos)."""
    return [
        block_on("hetu_any"),
        block_on("birth_date"),
        block_on("first_given", "surname"),
        block_on("phone_block"),
        block_on("email_block"),
        block_on("address_block", "first_given"),
        block_on("other_id"),
        block_on("postcode", "surname"),
        "l.first_given = r.surname AND l.surname = r.first_given",
        block_on("substr(street, 1, 10)", "first_given"),
    ]


def settings(dialect: str, **overrides: Any) -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(dialect),
        blocking_rules_to_generate_predictions=blocking_rules(),
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=["source_dataset"],
        **overrides,
    )


def apply_parameters(creator: SettingsCreator, params: dict[str, Any]) -> SettingsCreator:
    """Put trained m/u values (from :func:`extract_parameters`) onto freshly built settings."""
    creator.probability_two_random_records_match = params["probability_two_random_records_match"]
    by_name = {c.create_output_column_name(): c for c in creator.comparisons}
    if set(by_name) != set(params["comparisons"]):
        raise ValueError(
            f"the trained model's comparisons {sorted(params['comparisons'])} do not fit these settings "
            f"{sorted(by_name)}: retrain with `mdm train`"
        )
    for name, levels in params["comparisons"].items():
        comp = by_name[name]
        comp.configure(m_probabilities=[lv["m"] for lv in levels], u_probabilities=[lv["u"] for lv in levels])
    return creator


def extract_parameters(saved_model: dict[str, Any]) -> dict[str, Any]:
    """The dialect-free part of a saved Splink model: lambda and m/u of the non-null levels."""
    out: dict[str, Any] = {
        "probability_two_random_records_match": saved_model["probability_two_random_records_match"],
        "comparisons": {},
    }
    for comp in saved_model["comparisons"]:
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        out["comparisons"][comp["output_column_name"]] = [
            {"label": lv.get("label_for_charts"), "m": lv.get("m_probability"), "u": lv.get("u_probability")}
            for lv in levels
        ]
    return out
