"""Constraint-aware clustering as plain functions over plain data.

Edges are taken strongest first (steward must-links, then identity-rule
must-links, then model links by match weight) and two clusters are joined
only if no constraint forbids it:

- a steward cannot-link between any record of one and any record of the other;
- the join would bring a new distinct strong HETU into a cluster that already
  holds one (two different valid, non-temporary HETUs are two people).

Because edges are taken in order, a rejected edge is always the weakest link
of the chain that would have joined two people who cannot be one; it is
reported as a conflict for review. The result depends only on the sets of
nodes, edges and constraints (ties are broken by record ids), which is what
makes an incremental run give the same clusters as a full one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# Edge kinds in the order they are applied.
KIND_RANK = {"steward": 0, "rule": 1, "auto": 2}


@dataclass(frozen=True, order=True)
class Edge:
    left: int
    right: int
    weight: float  # match weight (log2 Bayes factor); ignored for steward / rule edges
    kind: str = "auto"  # steward | rule | auto


@dataclass
class Conflict:
    """An edge that clustering refused because a constraint forbids the join."""

    left: int
    right: int
    weight: float
    kind: str
    reason: str  # "cannot_link" | "different_hetu"


@dataclass
class ClusterResult:
    clusters: dict[int, int]  # record id -> cluster id (the smallest record id in the cluster)
    conflicts: list[Conflict] = field(default_factory=list)
    edges_used: dict[tuple[int, int], Edge] = field(default_factory=dict)  # edges that joined clusters

    def members(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for node, cid in self.clusters.items():
            out.setdefault(cid, []).append(node)
        for nodes in out.values():
            nodes.sort()
        return out


def _edge_order(edge: Edge) -> tuple[int, float, int, int]:
    return (KIND_RANK.get(edge.kind, 3), -edge.weight, min(edge.left, edge.right), max(edge.left, edge.right))


def cluster(
    nodes: Iterable[int],
    edges: Iterable[Edge],
    cannot_links: Iterable[tuple[int, int]] = (),
    strong_hetu: Mapping[int, str] | None = None,
) -> ClusterResult:
    """Cluster ``nodes`` along ``edges`` without ever chaining through a constraint.

    ``strong_hetu`` maps a record id to its valid, non-temporary HETU (records
    without one are absent). Steward must-links (kind ``steward``) are applied
    first and are checked only against steward cannot-links, since a steward
    decision beats the HETU rule.
    """
    parent: dict[int, int] = {}
    members: dict[int, list[int]] = {}
    hetus: dict[int, frozenset[str]] = {}
    strong_hetu = strong_hetu or {}
    for n in nodes:
        parent[n] = n
        members[n] = [n]
        h = strong_hetu.get(n)
        hetus[n] = frozenset((h,)) if h else frozenset()

    forbidden: dict[int, set[int]] = {}
    for a, b in cannot_links:
        if a in parent and b in parent and a != b:
            forbidden.setdefault(a, set()).add(b)
            forbidden.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def blocked_by_cannot_link(ra: int, rb: int) -> bool:
        small, other = (ra, rb) if len(members[ra]) <= len(members[rb]) else (rb, ra)
        for node in members[small]:
            for partner in forbidden.get(node, ()):
                if find(partner) == other:
                    return True
        return False

    result = ClusterResult(clusters={})
    for edge in sorted(edges, key=_edge_order):
        if edge.left not in parent or edge.right not in parent:
            continue  # an edge to a record that is no longer current
        ra, rb = find(edge.left), find(edge.right)
        if ra == rb:
            continue
        reason = None
        if forbidden and blocked_by_cannot_link(ra, rb):
            reason = "cannot_link"
        elif edge.kind != "steward":
            union = hetus[ra] | hetus[rb]
            if len(union) > max(len(hetus[ra]), len(hetus[rb])):
                reason = "different_hetu"
        if reason:
            result.conflicts.append(Conflict(edge.left, edge.right, edge.weight, edge.kind, reason))
            continue
        if len(members[ra]) < len(members[rb]):
            ra, rb = rb, ra
        parent[rb] = ra
        members[ra].extend(members.pop(rb))
        hetus[ra] = hetus[ra] | hetus.pop(rb)
        key = (min(edge.left, edge.right), max(edge.left, edge.right))
        result.edges_used[key] = edge

    for root, nodes_of in members.items():
        cid = min(nodes_of)
        for n in nodes_of:
            result.clusters[n] = cid
    return result


def components_containing(left: Sequence[int], right: Sequence[int], seeds: Iterable[int]) -> set[int]:
    """Every node connected to a seed along the undirected edges ``left[i] - right[i]`` (seeds included).

    Clustering never joins across components, so a component whose edges did
    not change clusters exactly as before: an incremental run re-clusters only
    the components that hold a change.
    """
    seed_arr = np.fromiter(seeds, dtype=np.int64)
    if not len(seed_arr):
        return set()
    left_arr, right_arr = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    nodes = np.unique(np.concatenate([left_arr, right_arr, seed_arr]))
    graph = coo_matrix((np.ones(len(left_arr), dtype=np.int8),
                        (np.searchsorted(nodes, left_arr), np.searchsorted(nodes, right_arr))),
                       shape=(len(nodes), len(nodes)))
    _n, labels = connected_components(graph, directed=False)
    wanted = np.unique(labels[np.searchsorted(nodes, seed_arr)])
    return set(nodes[np.isin(labels, wanted)].tolist())
