"""matching.realtime scores every pair exactly as Splink does (levels, weights, explanations)."""
from __future__ import annotations

import json
import random
import string

import duckdb
import jellyfish
import pandas as pd
import pytest
from splink import Linker
from sqlalchemy import select

from matching import settings as S
from matching.backends import DuckDBBackend
from matching.features import COLUMNS, _swap_day_month, build_frame
from matching.realtime import COMPARISONS, ModelMismatch, RealtimeScorer
from mdm.services import matching as matching_svc
from mdm.services.match_inputs import load_records
from mdm.store import models as m
from test_resolve_support import build_demo, copy_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    world = build_demo(tmp_path_factory.getbasetemp())
    store = copy_store(world, tmp_path_factory.mktemp("realtime"))
    with store.session() as s:
        model = matching_svc.active_model(s)
        records = list(load_records(s))
        stored = dict(s.execute(select(m.MatchFeature.source_record_id, m.MatchFeature.features)).all())
        edges = s.execute(select(m.MatchEdge)).scalars().all()
    frame = build_frame((rid, src, std) for rid, src, std, _ in records)
    yield model, frame, stored, edges
    store.dispose()


def _plain(value):
    if isinstance(value, (list, tuple)):
        return list(value)
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _rows(frame: pd.DataFrame) -> dict[int, dict]:
    """Feature rows as match-on-entry reads them: through JSON, as stored in match_feature."""
    return {int(rec["unique_id"]): json.loads(json.dumps({k: _plain(v) for k, v in rec.items()}))
            for rec in frame.to_dict("records")}


def _predict(model, frame: pd.DataFrame, all_pairs: bool = False) -> pd.DataFrame:
    backend = DuckDBBackend()
    try:
        if not all_pairs:
            linker = model.linker(backend, backend.register(frame, "records"))
        else:
            creator = S.apply_parameters(S.settings("duckdb"), model.parameters)
            creator.blocking_rules_to_generate_predictions = ["1=1"]
            linker = Linker(backend.register(frame, "records"), creator)
            for column, table in model.tf_tables.items():
                tf = pd.DataFrame({column: list(table), f"tf_{column}": list(table.values())})
                linker.table_management.register_term_frequency_lookup(
                    backend.register(tf, f"tf_{column}_frozen"), column)
        return linker.inference.predict(threshold_match_probability=0.0, warning_mode="never").as_pandas_dataframe()
    finally:
        backend.close()


def _compare(model, pred: pd.DataFrame, rows: dict[int, dict], seen: set | None = None) -> tuple[int, float]:
    scorer = RealtimeScorer(model)
    mismatches, worst = [], 0.0
    seen = set() if seen is None else seen
    for rec in pred.to_dict("records"):
        left, right = rows[int(rec["unique_id_l"])], rows[int(rec["unique_id_r"])]
        pair = scorer.score(left, right)
        for i, spec in enumerate(COMPARISONS):
            mw = rec[f"mw_{spec.name}"] + (rec.get(f"mw_tf_adj_{spec.name}") or 0.0)
            if int(rec[f"gamma_{spec.name}"]) != scorer.gamma(i, pair.levels[i]) or abs(mw - pair.weights[i]) > 1e-9:
                mismatches.append((spec.name, int(rec[f"gamma_{spec.name}"]), scorer.gamma(i, pair.levels[i])))
            seen.add((spec.name, pair.levels[i]))
        worst = max(worst, abs(pair.match_weight - rec["match_weight"]),
                    abs(pair.match_probability - rec["match_probability"]))
    assert not mismatches, mismatches[:10]
    return len(pred), worst


def test_every_blocked_pair_of_a_demo_population(demo):
    model, frame, _stored, _edges = demo
    pred = _predict(model, frame)
    n, worst = _compare(model, pred, _rows(frame))
    assert n > 2000
    assert worst <= 1e-9  # in practice bit for bit: same literals, same order of additions


def test_stored_edges_and_explanations(demo):
    """The reconciliation's match_edge rows (rounded) and explanations, from the stored feature rows."""
    model, _frame, stored, edges = demo
    assert stored and edges
    scorer = RealtimeScorer(model)
    for edge in edges:
        pair = scorer.score(stored[edge.left_record_id], stored[edge.right_record_id])
        assert abs(pair.match_weight - edge.match_weight) <= 1e-6
        expl = {k: v for k, v in edge.explanation.items() if k != "rule"}
        assert scorer.explain(pair) == expl


def _fuzz_frame(model, n: int, seed: int) -> pd.DataFrame:
    """Rows over tiny vocabularies with many NULLs: every level and NULL case of every comparison."""
    rnd = random.Random(seed)
    given = ["anna", "anni", "ana", "maria", "matti", "mati", "virtanen", "laine", "johanna", "joanna"]
    given += rnd.sample(sorted(model.tf_tables["first_given"]), 5)
    surnames = ["virtanen", "virtane", "laine", "lainen", "anna", "korhonen", "korhola", "mattila"]
    dates = ["1980-01-02", "1980-02-01", "1980-01-03", "1981-01-02", "1980-11-02", "2001-12-12"]
    streets = ["aurakatu 1 a 2", "aurakatu 1 a 3", "aurakatu 12", "hameenkatu 5", "linnankatu 44 b"]
    pick = lambda values, p_null=0.25: None if rnd.random() < p_null else rnd.choice(values)  # noqa: E731
    rows = []
    for i in range(n):
        names = None if rnd.random() < 0.2 else rnd.sample(given, rnd.randint(1, 3))
        first = names[0] if names and rnd.random() < 0.9 else pick(given)
        bd = pick(dates)
        hetu = pick(["A", "B"], 0.6)
        phone, email, address = pick(["p1", "p2"], 0.4), pick(["e1", "e2"], 0.5), pick(["k1", "k2"], 0.4)
        no_contact = i % 15 == 0
        if no_contact:
            phone = email = address = None
        rows.append({
            "unique_id": i, "source_dataset": "s", "given_names": names, "first_given": first,
            "calling": None, "surname": pick(surnames, 0.15), "surnames": pick([["virtanen", "laine"], ["laine"],
                                                                                 ["korhonen"], ["anna"]]),
            "birth_date": bd, "birth_date_swapped": _swap_day_month(bd), "sex": pick(["male", "female"]),
            "hetu": hetu, "hetu_any": hetu or pick(["T1", "A"], 0.6),
            "phone": phone, "phone_holders": None if phone is None else rnd.choice([1, 1, 2]),
            "phone_block": phone, "email": email, "email_holders": None if email is None else rnd.choice([1, 3]),
            "email_block": email, "address_key": address,
            "address_holders": None if address is None else rnd.choice([1, 2]), "address_block": address,
            "postcode": None if no_contact else pick(["20100", "20500", "21200"], 0.3),
            "other_id": pick(["12345", "12354", "12346", "9"]),
            "street": None if no_contact else pick(streets, 0.3), "city": pick(["turku", "kaarina", "raisio"], 0.3),
        })
    frame = pd.DataFrame.from_records(rows, columns=COLUMNS)
    for col in ("phone_holders", "email_holders", "address_holders"):
        frame[col] = frame[col].astype("Int64")
    return frame


@pytest.mark.parametrize("seed", [1, 2])
def test_every_pair_of_adversarial_rows(demo, seed):
    """All pairs (no blocking) of made-up rows: NULLs, swaps, typos, shared and private contact values."""
    model = demo[0]
    frame = _fuzz_frame(model, 110, seed)
    seen: set = set()
    n, worst = _compare(model, _predict(model, frame, all_pairs=True), _rows(frame), seen)
    assert n == 110 * 109 // 2 and worst <= 1e-9
    # Every level of every comparison, and its NULL case, was met.
    assert seen == {(spec.name, level) for spec in COMPARISONS for level in range(-1, spec.levels)}


def _typos(word: str, rnd: random.Random) -> list[str]:
    out = []
    for _ in range(6):
        i = rnd.randrange(len(word))
        op = rnd.randrange(4)
        if op == 0:
            out.append(word[:i] + word[i + 1:])
        elif op == 1:
            out.append(word[:i] + rnd.choice(string.ascii_lowercase) + word[i + 1:])
        elif op == 2:
            out.append(word[:i] + word[i] + word[i:])
        elif i + 1 < len(word):
            out.append(word[:i] + word[i + 1] + word[i] + word[i + 2:])
    return [w for w in out if w]


def test_string_similarities_agree_with_duckdb(demo):
    """jellyfish's Jaro-Winkler, Levenshtein and Damerau-Levenshtein against DuckDB's at our thresholds."""
    model = demo[0]
    rnd = random.Random(7)
    words = sorted(set(model.tf_tables["first_given"]) | set(model.tf_tables["surname"]))
    pairs = [(a, b) for a in words for b in words[:40]]
    pairs += [(w, t) for w in words for t in _typos(w, rnd)]
    pairs += [("aurakatu 1 a 2", "aurakatu 1 a 3"), ("a", "b"), ("ab", "ba"), ("martha", "marhta"),
              ("dwayne", "duane"), ("dixon", "dicksonx"), ("1980-01-02", "1980-02-01")]
    con = duckdb.connect()
    con.register("p", pd.DataFrame(pairs, columns=["a", "b"]))
    got = con.execute("SELECT a, b, jaro_winkler_similarity(a, b), levenshtein(a, b), damerau_levenshtein(a, b) "
                      "FROM p").fetchall()
    assert len(got) == len(pairs) > 5000
    near = 0
    for a, b, jw, lev, dl in got:
        mine = jellyfish.jaro_winkler_similarity(a, b)
        assert abs(mine - jw) < 1e-12, (a, b, mine, jw)
        for threshold in (0.88, 0.9, 0.92):
            assert (mine >= threshold) == (jw >= threshold), (a, b, threshold)
            near += abs(jw - threshold) < 0.02
        assert jellyfish.levenshtein_distance(a, b) == lev
        assert (jellyfish.damerau_levenshtein_distance(a, b) <= 1) == (dl <= 1)
    assert near > 100  # the thresholds were really exercised


def test_a_model_of_other_comparisons_is_refused(demo):
    model = demo[0]
    params = json.loads(json.dumps(model.parameters))
    params["comparisons"]["surname"].pop()
    other = type(model)(model.version, params, model.tf_tables, model.fingerprint)
    with pytest.raises(ModelMismatch):
        RealtimeScorer(other)
