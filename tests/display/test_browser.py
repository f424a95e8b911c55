"""In a real headless Chromium: the report file, ``laminar ui``'s pages, and a run watched live.

Each test saves screenshots of what the browser showed under the directory the ``screenshots``
fixture prints (pytest's temporary directory for this session).
"""

from __future__ import annotations

import html
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from serving import FLOWS, serve, stop

from laminar.display.report import document
from laminar.results.views import flow_view

pytestmark = pytest.mark.slow


def layers(browser: Any) -> dict[str, Any]:
    from selenium.webdriver.common.by import By

    return {
        str(node.get_attribute("data-layer")): node
        for node in browser.find_elements(By.CSS_SELECTOR, "svg.laminar-graph g.layer")
    }


def count(browser: Any, layer: str) -> str:
    from selenium.webdriver.common.by import By

    found = browser.find_elements(By.CSS_SELECTOR, f'svg.laminar-graph g.layer[data-layer="{layer}"] text.count')
    return str(found[0].text) if found else ""


def test_the_report_file_in_chromium(
    browser: Any, demo_run: tuple[Any, str], tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    flow, identifier = demo_run
    path = tmp_path / "run.html"
    path.write_text(document(flow_view(flow, identifier)), encoding="utf-8")
    browser.get(path.as_uri())
    nodes = layers(browser)
    assert sorted(nodes) == ["Check", "Fit", "Load", "Summary"]
    for name, node in nodes.items():  # one node per layer, with its state's class
        state = node.get_attribute("data-state")
        assert f"state-{state}" in str(node.get_attribute("class")).split(), name
    assert nodes["Fit"].get_attribute("data-state") == "failed" and count(browser, "Fit").startswith("7/8, 1 failed · ")
    assert nodes["Load"].get_attribute("data-state") == "finished"
    assert browser.find_element(By.CSS_SELECTOR, 'svg.laminar-graph g.fork[data-layer="Fit"]')
    assert browser.find_element(By.CSS_SELECTOR, 'svg.laminar-graph g.layer[data-layer="Summary"] g.condition')
    traceback = browser.find_element(By.CSS_SELECTOR, '.failure[data-layer="Fit"][data-split="3"] pre.traceback').text
    assert "Traceback (most recent call last):" in traceback and "ValueError: item 3 is bad" in traceback
    bars = browser.find_elements(By.CSS_SELECTOR, 'svg.laminar-timeline g.row[data-layer="Fit"] rect.split')
    # every split, the failed one too (its attempts' records say when they ran); drawn, not only present
    assert len(bars) == 8 and all(bar.size["width"] >= 1 for bar in bars)
    assert browser.find_element(By.CSS_SELECTOR, "svg.laminar-graph").size["width"] > 300
    browser.save_screenshot(str(screenshots / "report.png"))


def test_laminar_ui_lists_executions_and_opens_one(
    browser: Any, demo_run: tuple[Any, str], tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    flow, _ = demo_run
    served = serve(tmp_path, f"{FLOWS}:Demo", "--datastore", flow.configuration.datastore.url)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", served.url)
        browser.get(served.url)
        (row,) = browser.find_elements(By.CSS_SELECTOR, 'tr.execution[data-execution="demo"]')
        assert "state-failed" in str(row.get_attribute("class")) and "bad=3" in row.text and "count=8" in row.text
        browser.save_screenshot(str(screenshots / "ui-list.png"))
        row.find_element(By.LINK_TEXT, "demo").click()
        assert layers(browser)["Fit"].get_attribute("data-state") == "failed"
        assert "ValueError: item 3 is bad" in browser.find_element(By.CSS_SELECTOR, "pre.traceback").text
        assert not browser.find_elements(By.ID, "live-status")  # settled: nothing to watch
        browser.save_screenshot(str(screenshots / "ui-execution.png"))

        listed = json.loads(urllib.request.urlopen(f"{served.url}api/executions", timeout=30).read())
        assert [(item["flow"], item["id"], item["state"]) for item in listed] == [("Demo", "demo", "failed")]
        with pytest.raises(urllib.error.HTTPError) as refused:  # read-only: nothing but GET
            urllib.request.urlopen(urllib.request.Request(f"{served.url}api/executions", method="POST"), timeout=30)
        assert refused.value.code == 405
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{served.url}flows/Demo/nope", timeout=30)
        assert missing.value.code == 404 and "Demo has no execution 'nope'" in html.unescape(
            missing.value.read().decode()
        )
    finally:
        stop(served)
    errors = served.process.stderr.read() if served.process.stderr else ""
    # uvicorn shuts down on SIGTERM, then re-raises it: the process ends as terminated, cleanly.
    assert served.process.returncode in (0, -signal.SIGTERM) and "Traceback" not in errors, errors


def test_a_run_elsewhere_is_watched_live(browser: Any, tmp_path: Path, screenshots: Path) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    store = tmp_path / "store"
    served = serve(tmp_path, f"{FLOWS}:Live", "--datastore", str(store))
    driver = subprocess.Popen(  # the flow's driver: another process, a Thread executor, 80 splits of 0.1 s
        [sys.executable, str(FLOWS), str(store), "live", "80", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        record = store / "flows" / "Live" / "live" / "execution.json"
        deadline = time.monotonic() + 60
        while not record.exists() and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.exists(), driver.communicate(timeout=60)
        browser.get(f"{served.url}flows/Live/live")
        from selenium.common.exceptions import StaleElementReferenceException

        # The live page replaces its picture on every update (each commit of the journal, 10 ms apart at
        # most): an element found just before one is stale by the time its text is read; look again.
        wait = WebDriverWait(browser, 60, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))
        first = wait.until(lambda b: re.fullmatch(r"\d+/80", count(b, "Work")) and count(b, "Work"))
        browser.save_screenshot(str(screenshots / "ui-live-1.png"))
        second = wait.until(
            lambda b: re.fullmatch(r"\d+/80", count(b, "Work")) and count(b, "Work") != first and count(b, "Work")
        )
        browser.save_screenshot(str(screenshots / "ui-live-2.png"))
        assert int(str(second).split("/")[0]) > int(str(first).split("/")[0])
        assert int(str(browser.find_element(By.ID, "live-status").get_attribute("data-updates") or 0)) >= 1
        # Once the run settles the page reloads as the full report.
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "h1 .badge.state-finished"))
        assert count(browser, "Work").startswith("80/80 · ") and not browser.find_elements(By.ID, "live-status")
        browser.save_screenshot(str(screenshots / "ui-live-finished.png"))
        assert driver.wait(timeout=60) == 0
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.communicate(timeout=60)
        stop(served)
