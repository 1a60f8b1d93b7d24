"""Steward UI flows through the Flask test client, on a reconciled demo population.

The queue, the task page and its waterfall, merge, split, overrides, admin
pages, runs and audit; and end to end: decisions made in the UI hold after the
next ``reconcile``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mdm.services import accounts
from mdm.services import steward_views as views
from mdm.store import models as m
from test_ui_support import (  # noqa: F401 - fixtures
    Demo, cheap_hashes, copy_demo, demo_app, demo_template, fast_passwords, login, make_user, token,
)


@pytest.fixture(scope="module")
def demo(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    d = copy_demo(demo_template, tmp_path_factory.mktemp("flows") / "demo")
    with pytest.MonkeyPatch.context() as mp:
        cheap_hashes(mp)
        for name, role in (("vera", "viewer"), ("stina", "steward"), ("adam", "admin")):
            make_user(d.store, name, role)
    yield d
    d.store.dispose()


@pytest.fixture
def steward(demo: Demo) -> FlaskClient:
    client = demo_app(demo, TESTING=True).test_client()
    login(client, "stina")
    return client


def _open_tasks(demo: Demo) -> list[m.ReviewTask]:
    with demo.store.session() as s:
        return list(s.scalars(select(m.ReviewTask).where(m.ReviewTask.status == "open").order_by(m.ReviewTask.id)))


def _golden_of(demo: Demo, record_id: int) -> str:
    with demo.store.session() as s:
        return s.scalar(select(m.GoldenLink.golden_id).where(m.GoldenLink.source_record_id == record_id))


def test_queue_filters_sorts_and_pages(demo, steward):
    tasks = _open_tasks(demo)
    assert len(tasks) >= 5, "the demo population should give a few review tasks"
    html = steward.get("/review?sort=score_asc&per_page=3").get_data(as_text=True)
    shown = [int(x) for x in re.findall(r'name="task_ids" value="(\d+)"', html)]
    lowest = sorted(tasks, key=lambda t: (t.score, t.id))[:3]
    assert shown == [t.id for t in lowest] and "Page 1 of" in html
    assert 'rel="next"' in html and "per_page=3" in html and "sort=score_asc" in html
    page2 = steward.get("/review?sort=score_asc&per_page=3&page=2").get_data(as_text=True)
    assert [int(x) for x in re.findall(r'name="task_ids" value="(\d+)"', page2)][0] not in shown
    cut = sorted(t.score for t in tasks)[len(tasks) // 2]
    html = steward.get(f"/review?min_score={cut}").get_data(as_text=True)
    assert {int(x) for x in re.findall(r'name="task_ids" value="(\d+)"', html)} == {
        t.id for t in tasks if t.score >= cut}
    page = views.review_queue(demo.store.sessions(), source="transit", per_page=100)
    assert page.items and all("transit" in t["sources"] for t in page.items)
    html = steward.get("/review?source=transit").get_data(as_text=True)
    assert len(re.findall(r'name="task_ids"', html)) == page.total


def test_task_page_compares_and_draws_the_waterfall(demo, steward):
    task = max(_open_tasks(demo), key=lambda t: len(t.explanation["comparisons"]))
    html = steward.get(f"/review/{task.id}").get_data(as_text=True)
    assert "<svg class=\"waterfall\"" in html and "style=" not in html and "<script src=\"/static/ui.js\"" in html
    bars = re.findall(r'<g class="step step-(\w+)">', html)
    assert bars[0] == "prior" and bars[-1] == "final" and len(bars) == len(task.explanation["comparisons"]) + 2
    final = task.explanation["prior"] + sum(c[2] for c in task.explanation["comparisons"])
    assert abs(final - task.match_weight) < 0.01 and f"{final:.2f}" in html
    assert f"probability {100 * task.score:.1f} %" in html
    assert 'class="state-' in html and 'data-key="s"' in html and 'data-key="d"' in html and 'data-key="k"' in html


def test_bulk_decision(demo, steward):
    ids = [t.id for t in _open_tasks(demo)][-2:]
    html = steward.get("/review").get_data(as_text=True)
    resp = steward.post("/review/decide", data={"csrf_token": token(html), "decision": "skip", "task_ids": ids,
                                                "next": "/review?sort=oldest"}, follow_redirects=True)
    assert "2 tasks decided: skipped." in resp.get_data(as_text=True)
    with demo.store.session() as s:
        assert {s.get(m.ReviewTask, i).status for i in ids} == {"skipped"}
    again = steward.post("/review/decide", data={"csrf_token": token(html), "decision": "skip", "task_ids": ids},
                         follow_redirects=True).get_data(as_text=True)
    assert "is skipped, not open" in again  # the service's refusal, shown as a message


def test_decisions_hold_after_reconcile(demo, steward):
    same, different = _open_tasks(demo)[:2]
    html = steward.get(f"/review/{same.id}").get_data(as_text=True)
    resp = steward.post(f"/review/{same.id}", data={"csrf_token": token(html), "decision": "same"})
    assert resp.status_code == 302
    resp = steward.post(f"/review/{different.id}", data={"csrf_token": token(html), "decision": "different",
                                                         "comment": "twins"}, follow_redirects=True)
    assert "different people" in resp.get_data(as_text=True)
    demo.reconcile()
    assert _golden_of(demo, same.left_record_id) == _golden_of(demo, same.right_record_id)
    assert _golden_of(demo, different.left_record_id) != _golden_of(demo, different.right_record_id)
    with demo.store.session() as s:
        reopened = s.scalars(select(m.ReviewTask).where(
            m.ReviewTask.status == "open", m.ReviewTask.left_record_id.in_([same.left_record_id, different.left_record_id]),
            m.ReviewTask.right_record_id.in_([same.right_record_id, different.right_record_id]))).all()
    assert reopened == []
    demo.reconcile()  # and again: nothing undoes them
    assert _golden_of(demo, different.left_record_id) != _golden_of(demo, different.right_record_id)


def _two_goldens(demo: Demo) -> tuple[str, str]:
    """Two active golden records with two or more records each."""
    with demo.store.session() as s:
        ids = s.scalars(select(m.GoldenLink.golden_id).join(m.GoldenRecord).where(m.GoldenRecord.status == "active")
                        .group_by(m.GoldenLink.golden_id).having(func.count() >= 2)
                        .order_by(m.GoldenLink.golden_id).limit(2)).all()
    return ids[0], ids[1]


def test_merge_split_and_override(demo, steward):
    keep, other = _two_goldens(demo)
    page = steward.get(f"/golden/{keep}").get_data(as_text=True)
    csrf = token(page)
    resp = steward.post(f"/golden/{keep}/merge", data={"csrf_token": csrf, "other_id": other, "comment": "dup"},
                        follow_redirects=True)
    assert f"Merged {other} into {keep}" in resp.get_data(as_text=True)
    resp = steward.get(f"/golden/{other}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/golden/{keep}")
    assert f"{other} was merged into {keep}" in steward.get(resp.headers["Location"]).get_data(as_text=True)

    with demo.store.session() as s:
        records = s.scalars(select(m.GoldenLink.source_record_id).where(m.GoldenLink.golden_id == keep)
                            .order_by(m.GoldenLink.source_record_id)).all()
    resp = steward.post(f"/golden/{keep}/split", data={"csrf_token": csrf, "record_ids": [str(records[-1])],
                                                       "comment": "not the same"}, follow_redirects=True)
    found = re.search(r"new golden record (G[A-Za-z0-9]+)", resp.get_data(as_text=True))
    assert found
    assert _golden_of(demo, records[-1]) == found.group(1) and _golden_of(demo, records[0]) == keep

    resp = steward.post(f"/golden/{keep}/override", data={"csrf_token": csrf, "attribute": "family_name",
                                                          "value": "Steward-Override", "reason": "typo"},
                        follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "Override of family_name saved" in html and "Steward-Override" in html and 'class="override"' in html
    oid = int(re.search(r"/override/(\d+)/remove", html).group(1))
    html = steward.post(f"/golden/{keep}/override/{oid}/remove", data={"csrf_token": csrf},
                        follow_redirects=True).get_data(as_text=True)
    assert "Override removed" in html and "Steward-Override" not in html.split("<h2>History</h2>")[0]
    bad = steward.post(f"/golden/{keep}/override", data={"csrf_token": csrf, "attribute": "birth_date",
                                                         "value": "yesterday", "reason": "x"}, follow_redirects=True)
    assert "ISO date" in bad.get_data(as_text=True)
    audit = steward.get("/audit?actor=stina").get_data(as_text=True)
    for action in ("merge_golden", "split_golden", "set_override", "remove_override"):
        assert action in audit


def test_admin_manages_users_and_clients(demo):
    admin = demo_app(demo, TESTING=True).test_client()
    login(admin, "adam")
    html = admin.get("/admin/users").get_data(as_text=True)
    resp = admin.post("/admin/users", data={"csrf_token": token(html), "username": "olli", "role": "viewer",
                                            "password": "long enough password"}, follow_redirects=True)
    assert "User olli created (viewer)" in resp.get_data(as_text=True)
    short = admin.post("/admin/users", data={"csrf_token": token(html), "username": "pia", "role": "viewer",
                                             "password": "short"})
    assert short.status_code == 400 and "at least 12 characters" in short.get_data(as_text=True)
    olli = demo_app(demo, TESTING=True).test_client()
    login(olli, "olli", "long enough password")
    assert olli.get("/review").status_code == 200
    admin.post("/admin/users/olli/disable", data={"csrf_token": token(html)})
    assert olli.get("/review").status_code == 302  # logged out at the next request

    html = admin.get("/admin/clients").get_data(as_text=True)
    resp = admin.post("/admin/clients", data={"csrf_token": token(html), "name": "library",
                                              "scopes": "lookup:library_card,attrs:identity", "rate_limit": "120"})
    page = resp.get_data(as_text=True)
    key = re.search(r'<code class="key">(mdmk_[^<]+)</code>', page).group(1)
    with demo.store.session() as s:
        assert accounts.authenticate_client(s, key).name == "library"
    assert key not in admin.get("/admin/clients").get_data(as_text=True)  # shown once
    admin.post("/admin/clients/library/revoke", data={"csrf_token": token(html)})
    with demo.store.session() as s:
        assert accounts.authenticate_client(s, key) is None
    audit = admin.get("/audit?actor=adam").get_data(as_text=True)
    assert all(a in audit for a in ("user.create", "user.disable", "client.create", "client.revoke"))


def test_runs_and_audit_pages(demo, steward):
    html = steward.get("/runs").get_data(as_text=True)
    assert 'href="/runs/1"' in html and "succeeded" in html
    run = steward.get("/runs/1").get_data(as_text=True)
    assert "Sources" in run and "library" in run and "<svg class=\"histogram\"" in run
    assert steward.get("/runs/999").status_code == 404
    today = m.utcnow().date().isoformat()
    assert "login" in steward.get(f"/audit?action=login&date_from={today}&date_to={today}").get_data(as_text=True)
    assert "Nothing logged" in steward.get("/audit?date_to=2000-01-01").get_data(as_text=True)
