"""Steward UI access rules: roles, CSRF, and that no page shows a HETU without a logged reveal.

Runs on the seeded test population (test_web_support.seed_world) on SQLite and,
when reachable, PostgreSQL, with review tasks added between its records.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from mdm.store import models as m
from rules.hetu import mask
from test_ui_support import fast_passwords, login, make_user, token  # noqa: F401 - fixture
from test_web_support import *  # noqa: F401,F403 - app, client, store, world fixtures

EXPLANATION = {"prior": -8.7, "comparisons": [["given_names", "Exact match on first_given", 4.2],
                                              ["birth_date", "no data", 0.0], ["hetu", "All other comparisons", -0.2],
                                              ["surname", "Exact match on surname", 5.6]]}


def _rid(s, source_id: str) -> int:
    return s.scalar(select(m.SourceRecord.id).where(m.SourceRecord.source_id == source_id))


@pytest.fixture
def tasks(store, world) -> dict[str, int]:
    """Three open review tasks: (L1, L4) and (L2, H3) in the review band, (L6, H2) a conflict."""
    out = {}
    with store.session() as s:
        for name, a, b, score, band in (("mother_y", "L1", "L4", 0.71, "review"),
                                        ("child_health", "L2", "H3", 0.62, "review"),
                                        ("secret_temp", "L6", "H2", 0.93, "conflict")):
            left, right = sorted((_rid(s, a), _rid(s, b)))
            task = m.ReviewTask(left_record_id=left, right_record_id=right, score=score, match_weight=0.9,
                                band=band, reason="review_band" if band == "review" else "conflict_hetu",
                                explanation=EXPLANATION)
            s.add(task)
            s.flush()
            out[name] = task.id
    return out


@pytest.fixture
def users(store) -> None:
    for name, role in (("vera", "viewer"), ("stina", "steward"), ("adam", "admin")):
        make_user(store, name, role)


def _writes(tasks: dict[str, int], store) -> list[tuple[str, dict[str, object]]]:
    """Every write endpoint of the UI with a valid body (except the token)."""
    with store.session() as s:
        override = m.AttributeOverride(golden_id="g-mother", attribute="family_name", value="X", actor="t")
        s.add(override)
        s.flush()
        oid = override.id
    tid = tasks["mother_y"]
    return [
        (f"/review/{tid}", {"decision": "same"}),
        ("/review/decide", {"decision": "different", "task_ids": [str(tid)]}),
        ("/golden/g-mother/merge", {"other_id": "g-y", "comment": "same"}),
        ("/golden/g-mother/split", {"record_ids": ["1"], "comment": "x"}),
        ("/golden/g-mother/override", {"attribute": "family_name", "value": "Y", "reason": "typo"}),
        (f"/golden/g-mother/override/{oid}/remove", {}),
        ("/golden/g-mother/reveal", {"reason": "customer called"}),
        ("/admin/users", {"username": "new", "role": "viewer", "password": "x" * 20}),
        ("/admin/users/vera/disable", {}),
        ("/admin/clients", {"name": "lib", "scopes": "all", "rate_limit": "60"}),
    ]


def _state(store) -> tuple[int, int, int, int]:
    with store.session() as s:
        return (len(s.scalars(select(m.StewardDecision)).all()),
                len(s.scalars(select(m.AuditEvent).where(m.AuditEvent.action != "login")).all()),
                len(s.scalars(select(m.ReviewTask).where(m.ReviewTask.status == "open")).all()),
                len(s.scalars(select(m.AttributeOverride).where(m.AttributeOverride.removed_at.is_(None))).all()))


def test_every_page_needs_login(client, world, tasks):
    for url in ("/review", f"/review/{tasks['mother_y']}", "/golden/g-mother", "/search", "/runs", "/audit",
                "/admin/users", "/admin/clients"):
        resp = client.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/auth/login"), url


def test_viewer_reads_but_cannot_write(client, store, world, tasks, users):
    writes = _writes(tasks, store)
    login(client, "vera")
    before = _state(store)
    page = client.get("/golden/g-mother").get_data(as_text=True)
    assert "Virtanen" in page and "131052-****" in page
    assert not re.search(r'action="[^"]*/(merge|split|override|reveal)', page)  # no forms a viewer cannot use
    html = client.get(f"/review/{tasks['mother_y']}").get_data(as_text=True)
    assert 'name="decision"' not in html
    csrf = token(html)
    for url, data in writes:
        resp = client.post(url, data={"csrf_token": csrf, **data})
        assert resp.status_code == 403, url
    assert client.get("/admin/users").status_code == 403
    assert _state(store) == before  # nothing was written, not even an audit row


def test_steward_decides_but_does_not_manage_accounts(client, store, world, tasks, users):
    login(client, "stina")
    csrf = token(client.get("/review").get_data(as_text=True))
    for url in ("/admin/users", "/admin/clients"):
        assert client.get(url).status_code == 403
        assert client.post(url, data={"csrf_token": csrf, "name": "x", "username": "x"}).status_code == 403
    resp = client.post(f"/review/{tasks['mother_y']}", data={"csrf_token": csrf, "decision": "different",
                                                             "comment": "two people"})
    assert resp.status_code == 302
    with store.session() as s:
        task = s.get(m.ReviewTask, tasks["mother_y"])
        assert (task.status, task.decision, task.decided_by) == ("decided", "different", "stina")
        kinds = s.scalars(select(m.StewardDecision.kind)).all()
    assert kinds == ["cannot_link"]


@pytest.mark.parametrize("who", ["stina", "adam"])
def test_posts_without_csrf_token_are_rejected(client, store, world, tasks, users, who):
    writes = _writes(tasks, store)
    login(client, who)
    before = _state(store)
    for url, data in writes:
        assert client.post(url, data=data).status_code == 400, url
        assert client.post(url, data={"csrf_token": "forged", **data}).status_code == 400, url
    assert _state(store) == before


def _all_hetus(store) -> set[str]:
    with store.session() as s:
        values = {v for v in s.scalars(select(m.Identifier.value).where(
            m.Identifier.type.in_(("hetu", "kela_card", "temporary_id")))) if v}
        for attrs in s.scalars(select(m.GoldenRecord.attributes)):
            if (attrs or {}).get("hetu"):
                values.add(attrs["hetu"]["value"])
    return values


def _crawl(client, start: str, limit: int = 60) -> dict[str, str]:
    """Every page reachable from ``start`` by GET links inside the UI (no logout, no static files)."""
    seen: dict[str, str] = {}
    queue = [start]
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        resp = client.get(url, follow_redirects=True)
        seen[url] = html = resp.get_data(as_text=True)
        for link in re.findall(r'href="(/[^"#]*)"', html):
            link = link.replace("&amp;", "&")
            if not link.startswith(("/static", "/auth", "/api")) and link not in seen:
                queue.append(link)
    return seen


def test_no_page_shows_a_hetu_without_a_logged_reveal(client, store, world, tasks, users):
    hetus = _all_hetus(store)
    assert world.mother_hetu in hetus and len(hetus) >= 5
    login(client, "adam")  # the widest role: sees every page and every form
    pages = _crawl(client, "/golden/g-mother")
    pages.update(_crawl(client, f"/review/{tasks['secret_temp']}"))
    pages.update({url: client.get(url).get_data(as_text=True) for url in
                  ("/golden/g-y", "/golden/g-secret", "/golden/g-temp-dash", "/golden/g-temp-y", "/golden/g-old1",
                   "/search?q=Virtanen", "/review?sort=oldest")})
    assert any("/golden/g-child" in u for u in pages) and len(pages) > 8
    for url, html in pages.items():
        for value in hetus:
            assert value not in html and value.lower() not in html, f"{url} shows a HETU in clear"
        # The Content-Security-Policy allows no inline code or styles: none are written.
        assert not re.search(r"<script(?![^>]*\ssrc=)", html) and "style=" not in html, url
    mother = pages["/golden/g-mother"]
    assert mask(world.mother_hetu) == "131052-****" and "131052-****" in mother
    assert "Reveal" in mother
    # The identifier search is a POST; its answer does not echo the value.
    csrf = token(mother)
    found = client.post("/search", data={"csrf_token": csrf, "type": "hetu", "value": world.mother_hetu})
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and "g-mother" in html and world.mother_hetu not in html
    with store.session() as s:
        assert s.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "reveal_hetu")).all() == []
        logged = s.scalars(select(m.AccessLogEntry).where(m.AccessLogEntry.endpoint == "ui.search.identifier")).one()
    assert logged.username == "adam" and logged.golden_ids == ["g-mother"]
    assert logged.identifier_digest and world.mother_hetu not in logged.identifier_digest


def test_reveal_shows_the_hetu_once_and_is_logged(client, store, world, users):
    login(client, "stina")
    page = client.get("/golden/g-mother").get_data(as_text=True)
    assert world.mother_hetu not in page
    resp = client.post("/golden/g-mother/reveal", data={"csrf_token": token(page), "reason": ""})
    assert resp.status_code == 400 and world.mother_hetu not in resp.get_data(as_text=True)  # a reason is needed
    resp = client.post("/golden/g-mother/reveal", data={"csrf_token": token(page), "reason": "customer called"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and world.mother_hetu in html and "Revealed HETU" in html
    assert resp.headers["Cache-Control"] == "no-store"
    assert world.mother_hetu not in client.get("/golden/g-mother").get_data(as_text=True)  # once only
    with store.session() as s:
        event = s.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "reveal_hetu")).one()
    assert (event.actor, event.target_id, event.details["reason"]) == ("stina", "g-mother", "customer called")
    audit = client.get("/audit?action=reveal_hetu").get_data(as_text=True)
    assert "customer called" in audit and world.mother_hetu not in audit


def test_hetu_never_searched_from_a_url(client, store, world, users):
    login(client, "vera")
    # A HETU with its sign is refused before routing (security.py); other spellings by the search itself.
    for q in (world.mother_hetu, world.mother_hetu.lower(), "131052 308t", "131052308T", "131052 308T"):
        resp = client.get("/search", query_string={"q": q})
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400 and "g-mother" not in html and q not in html, q
    assert "was not searched" in client.get("/search", query_string={"q": "131052308T"}).get_data(as_text=True)
    with store.session() as s:
        assert s.scalars(select(m.AccessLogEntry)).all() == []
    html = client.get("/search?q=virtanen").get_data(as_text=True)
    assert "g-mother" in html and "g-child" in html and "131052-****" in html
    assert "g-mother" in client.get("/search?q=Anna 13.10.1952").get_data(as_text=True)
    assert "g-mother" not in client.get("/search?q=Anna 1952-10-14").get_data(as_text=True)


def test_turvakielto_contact_details_are_not_shown_to_viewers(client, store, world, users):
    secret = ("salla@example.fi", "+358501112222", "Aurakatu")
    login(client, "vera")
    html = client.get("/golden/g-secret").get_data(as_text=True)
    assert "turvakielto" in html and "Salainen" in html
    assert not any(v in html for v in secret) and "(hidden: turvakielto)" in html
    assert "Aurakatu" in client.get("/golden/g-mother").get_data(as_text=True)  # others are shown as usual
    steward = client.application.test_client()
    login(steward, "stina")
    html = steward.get("/golden/g-secret").get_data(as_text=True)
    assert all(v in html for v in secret) and "do not disclose" in html
