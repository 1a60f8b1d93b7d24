"""Constraint-aware clustering and pairwise evaluation (plain data, no database)."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from matching.clustering import Edge, cluster
from matching.evaluate import evaluate


def test_chain_is_cut_at_the_weakest_link():
    # A-B strong, B-C weaker, A and C have different HETUs: C must not join.
    res = cluster([1, 2, 3], [Edge(1, 2, 12.0), Edge(2, 3, 6.0)],
                  strong_hetu={1: "010203-123X", 3: "010203Y123X"})
    assert res.clusters[1] == res.clusters[2] != res.clusters[3]
    assert [(c.left, c.right, c.reason) for c in res.conflicts] == [(2, 3, "different_hetu")]


def test_weakest_link_wins_whichever_order_edges_come_in():
    edges = [Edge(2, 3, 15.0), Edge(1, 2, 4.0)]
    res = cluster([1, 2, 3], edges, strong_hetu={1: "H1", 3: "H3"})
    assert res.clusters[2] == res.clusters[3] != res.clusters[1]
    assert res.conflicts[0].weight == 4.0


def test_steward_cannot_link_is_never_chained_through():
    edges = [Edge(1, 2, 20.0), Edge(2, 3, 19.0), Edge(3, 4, 18.0)]
    res = cluster([1, 2, 3, 4], edges, cannot_links=[(1, 4)])
    assert res.clusters[1] == res.clusters[2] == res.clusters[3] != res.clusters[4]
    assert res.conflicts[0].reason == "cannot_link"


def test_steward_must_link_beats_hetu_rule_but_not_cannot_link():
    res = cluster([1, 2], [Edge(1, 2, 0.0, "steward")], strong_hetu={1: "H1", 2: "H2"})
    assert res.clusters[1] == res.clusters[2]
    res = cluster([1, 2], [Edge(1, 2, 0.0, "steward")], cannot_links=[(1, 2)])
    assert res.clusters[1] != res.clusters[2]


def test_rule_edges_come_before_model_edges():
    # 1 and 3 share a HETU (rule); 2 is a strong model match to 1 but holds another HETU.
    edges = [Edge(1, 2, 30.0, "auto"), Edge(1, 3, 0.0, "rule")]
    res = cluster([1, 2, 3], edges, strong_hetu={1: "H1", 2: "H2", 3: "H1"})
    assert res.clusters[1] == res.clusters[3] != res.clusters[2]


def test_cluster_id_is_smallest_member_and_isolated_nodes_stay():
    res = cluster([5, 7, 9], [Edge(9, 7, 3.0)])
    assert res.clusters == {5: 5, 7: 7, 9: 7}


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_result_does_not_depend_on_edge_order(seed):
    rnd = random.Random(seed)
    nodes = list(range(30))
    edges = [Edge(rnd.randrange(30), rnd.randrange(30), rnd.choice([1.0, 2.0, 5.0, 9.0])) for _ in range(40)]
    hetu = {n: f"H{rnd.randrange(4)}" for n in nodes if rnd.random() < 0.3}
    cannot = [(rnd.randrange(30), rnd.randrange(30)) for _ in range(5)]
    a = cluster(nodes, edges, cannot, hetu)
    shuffled = edges[:]
    rnd.shuffle(shuffled)
    b = cluster(list(reversed(nodes)), shuffled, cannot, hetu)
    assert a.clusters == b.clusters
    # No cluster ever holds two strong HETUs or a cannot-link pair.
    for members in a.members().values():
        assert len({hetu[n] for n in members if n in hetu}) <= 1
    for x, y in cannot:
        if x != y:
            assert a.clusters[x] != a.clusters[y]


def test_pairwise_evaluation_counts():
    predicted = {"a": "1", "b": "1", "c": "1", "d": "2", "e": "3"}
    person = {"a": "p", "b": "p", "c": "q", "d": "q", "e": "r"}
    household = {"a": "h", "b": "h", "c": "h", "d": "h", "e": "k"}
    ev = evaluate(predicted, person, household, in_review=["e"])
    # predicted pairs: ab ac bc = 3; true pairs: ab cd = 2; tp: ab = 1
    assert (ev.predicted_pairs, ev.true_pairs, ev.true_positive_pairs) == (3, 2, 1)
    assert ev.precision == round(1 / 3, 6) and ev.recall == 0.5
    assert ev.household_false_pairs == 2  # ac and bc join two people of household h
    assert ev.records_in_review == 1 and ev.review_share == 0.2
