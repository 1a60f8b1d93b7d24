"""The steward UI in headless Chromium, against a real server on a reconciled demo store.

Login, clearing review tasks (with the keyboard shortcut and with the buttons),
a merge, a split, an override and a HETU reveal, checked on the pages and in
the store; decisions and the split hold after the next ``reconcile``.
Skipped only when Chromium, chromedriver or selenium are missing (CI sets
MDM_REQUIRE_BROWSER=1, which turns the skip into a failure).

``MDM_UI_SCREENSHOTS=DIR`` saves screenshots of the main pages there.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select

from mdm.store import models as m
from test_ui_support import (  # noqa: F401 - fixtures
    PASSWORD, Demo, LiveServer, browser_unavailable, cheap_hashes, chromium, copy_demo, demo_app, demo_template,
    make_user,
)

pytestmark = pytest.mark.browser


@dataclass
class Site:
    demo: Demo
    url: str
    driver: Any

    def go(self, path: str) -> None:
        self.driver.get(self.url + path)

    def css(self, selector: str) -> Any:
        return self.driver.find_element("css selector", selector)

    def all(self, selector: str) -> list[Any]:
        return self.driver.find_elements("css selector", selector)

    def submit(self, element: Any, keys: str | None = None) -> None:
        """Click a button (or type keys into the page) and wait for the next page to load.

        A mark set on the old page's window disappears with it; while the browser
        navigates, script calls may fail, which only means "not yet".
        """
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.execute_script("window.__oldPage = true;")
        if keys is None:
            element.click()
        else:
            ActionChains(self.driver).send_keys(keys).perform()
        WebDriverWait(self.driver, 15, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return !window.__oldPage && document.readyState === 'complete';"))

    def flashes(self) -> str:
        return " ".join(e.text for e in self.all(".flash"))

    def fill(self, selector: str, text: str) -> None:
        box = self.css(selector)
        box.clear()
        box.send_keys(text)

    def shot(self, name: str) -> None:
        folder = os.environ.get("MDM_UI_SCREENSHOTS")
        if folder:
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(1400, min(int(height) + 40, 4000))
            self.driver.save_screenshot(str(Path(folder) / f"{name}.png"))
            self.driver.set_window_size(1400, 1000)


@pytest.fixture(scope="module")
def site(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("browser")
    demo = copy_demo(demo_template, root / "demo")
    with pytest.MonkeyPatch.context() as mp:
        cheap_hashes(mp)
        make_user(demo.store, "stina", "steward")
        server = LiveServer(demo_app(demo))
        driver = chromium(root / "profile")
        try:
            yield Site(demo, server.url, driver)
        finally:
            driver.quit()
            server.stop()
            demo.store.dispose()


@pytest.fixture
def steward(site: Site) -> Site:
    site.go("/review")
    if "/auth/login" in site.driver.current_url:
        site.fill("#username", "stina")
        site.fill("#password", PASSWORD)
        site.submit(site.css("form.card button"))
    return site


def _golden_of(site: Site, record_id: int) -> str:
    with site.demo.store.session() as s:
        return s.scalar(select(m.GoldenLink.golden_id).where(m.GoldenLink.source_record_id == record_id))


def _task(site: Site, task_id: int) -> m.ReviewTask:
    with site.demo.store.session() as s:
        return s.get(m.ReviewTask, task_id)


def test_login_and_clear_review_tasks(site):
    site.go("/review")
    assert "/auth/login" in site.driver.current_url
    site.fill("#username", "stina")
    site.fill("#password", "not the password")
    site.submit(site.css("form.card button"))
    assert "Wrong user name or password" in site.flashes()
    site.fill("#username", "stina")
    site.fill("#password", PASSWORD)
    site.submit(site.css("form.card button"))
    assert site.driver.current_url.endswith("/review") and "stina (steward)" in site.css(".topbar").text
    rows = site.all("table.data tbody tr")
    assert len(rows) >= 3
    site.shot("review")

    site.submit(rows[0].find_element("css selector", "td a"))
    first = int(re.search(r"/review/(\d+)$", site.driver.current_url).group(1))
    bars = site.all("svg.waterfall g.step")
    assert len(bars) == len(_task(site, first).explanation["comparisons"]) + 2
    assert "match weight" in bars[-1].text and site.all("table.compare tr[class^=state-]")
    site.shot("task")
    site.submit(None, keys="d")  # the keyboard shortcut (static/ui.js)
    assert "different people" in site.flashes()
    second = int(re.search(r"/review/(\d+)$", site.driver.current_url).group(1))
    assert second != first and _task(site, first).decision == "different"

    site.fill("#comment", "same person, checked by phone")
    site.submit(site.css("button[value=same]"))  # the plain button works too
    task = _task(site, second)
    assert (task.status, task.decision, task.comment) == ("decided", "same", "same person, checked by phone")

    site.demo.reconcile()
    different, same = _task(site, first), _task(site, second)
    assert _golden_of(site, same.left_record_id) == _golden_of(site, same.right_record_id)
    assert _golden_of(site, different.left_record_id) != _golden_of(site, different.right_record_id)
    site.go("/review")
    shown = {a.text for a in site.all("table.data tbody td:nth-child(2) a")}
    assert f"#{first}" not in shown and f"#{second}" not in shown


def test_merge_split_and_override(steward):
    site = steward
    with site.demo.store.session() as s:
        keep, other = s.scalars(
            select(m.GoldenLink.golden_id).join(m.GoldenRecord).where(m.GoldenRecord.status == "active")
            .group_by(m.GoldenLink.golden_id).having(func.count() >= 2).order_by(m.GoldenLink.golden_id.desc())
            .limit(2)).all()
    site.go(f"/golden/{keep}")
    site.fill("#other_id", other)
    site.fill("form[action$='/merge'] textarea", "one person in two records")
    site.submit(site.css("form[action$='/merge'] button"))
    assert f"Merged {other} into {keep}" in site.flashes()
    site.go(f"/golden/{other}")
    assert site.driver.current_url.endswith(f"/golden/{keep}") and "was merged into" in site.flashes()

    boxes = site.all("input[name=record_ids]")
    assert len(boxes) >= 4
    split_record = int(boxes[-1].get_attribute("value"))
    boxes[-1].click()
    site.fill("#split-comment", "a different person")
    site.submit(site.css("form[action$='/split'] button"))
    new_id = re.search(r"new golden record (G[A-Za-z0-9]+)", site.flashes()).group(1)
    assert _golden_of(site, split_record) == new_id

    site.css("#attribute option[value=family_name]").click()
    site.fill("#value", "Overridden")
    site.fill("#reason", "the registry has it wrong")
    site.submit(site.css("form[action$='/override'] button"))
    assert "Override of family_name saved" in site.flashes()
    row = site.css("tr.override")
    assert "Overridden" in row.text and "override" in row.text
    site.shot("golden")

    site.demo.reconcile()
    assert _golden_of(site, split_record) == new_id  # the split holds
    site.go(f"/golden/{keep}")
    assert "Overridden" in site.css("tr.override").text  # so does the override


def test_reveal_hetu(steward):
    site = steward
    with site.demo.store.session() as s:
        gid, hetu = s.execute(
            select(m.GoldenLink.golden_id, m.Identifier.value).join(
                m.Identifier, m.Identifier.source_record_id == m.GoldenLink.source_record_id)
            .join(m.GoldenRecord, m.GoldenRecord.id == m.GoldenLink.golden_id)
            .where(m.Identifier.type == "hetu", m.Identifier.quality == "valid", m.GoldenRecord.status == "active")
            .order_by(m.Identifier.id).limit(1)).one()
    site.go(f"/golden/{gid}")
    assert hetu not in site.driver.page_source and hetu[:7] + "****" in site.driver.page_source
    site.fill("#reveal-reason", "customer identified at the desk")
    site.submit(site.css("form[action$='/reveal'] button"))
    assert hetu in site.css("section.revealed").text
    assert "/reveal" in site.driver.current_url and hetu not in site.driver.current_url
    site.go(f"/golden/{gid}")
    assert hetu not in site.driver.page_source  # shown once
    site.go("/audit?action=reveal_hetu")
    audit = site.css("table.data tbody").text
    assert "stina" in audit and "customer identified at the desk" in audit and hetu not in site.driver.page_source
