"""The self-contained HTML report, from a real failed run, from the command line, and at 100,000 splits."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from runflows import Live
from serving import FLOWS

from laminar.configurations import datastores
from laminar.display.report import document
from laminar.results.views import flow_view

EXTERNAL = re.compile(r"https?://|<script[^>]*\bsrc=|<link\b|<img\b|<iframe\b|url\(|@import", re.IGNORECASE)


def test_the_report_is_self_contained_and_shows_the_failure(demo_run: tuple[Any, str]) -> None:
    flow, identifier = demo_run
    view = flow_view(flow, identifier)
    page = document(view, source=flow.configuration.datastore.url)
    assert EXTERNAL.search(page) is None, EXTERNAL.search(page)
    assert "<script" not in page  # a report file needs none
    assert page.count('<svg class="laminar-graph"') == 1 and page.count('<svg class="laminar-timeline"') == 1
    text = html.unescape(page)
    # The failed split: its error, traceback and what its record holds (it wrote nothing).
    (failure,) = re.findall(r'<div class="failure" data-layer="Fit" data-split="3">.*?</div>', page, re.DOTALL)
    failure = html.unescape(failure)
    assert "Fit[3]: attempt 2 failed" in failure
    assert 'raise ValueError(f"item {load.item} is bad")' in failure and "ValueError: item 3 is bad" in failure
    assert "It wrote nothing to stdout or stderr; its failure record holds:" in failure
    # Parameters and their values; layers with counts, resources requested and artifact previews.
    assert "<td><code>bad</code></td><td>3</td>" in page and "<td><code>count</code></td><td>8</td>" in page
    assert re.search(r'data-layer="Fit">.*?<td class="count">7/8, 1 failed</td>', page)
    assert "cpu 1, gpu 0, memory 1500 MB" in text
    assert "<code>table</code>: {'a': [1, 2, 3]}" in text
    # Per-split tables: every recorded split (Check's: those that ran before the failure stopped it).
    rows = re.findall(r'<tr class="split-row state-\w+" data-split="\d+">', page)
    assert len(rows) == 1 + 8 + view.layer("Check").finished  # Load, Fit, Check
    assert re.search(r'data-split="3"><td class="n">3</td><td [^>]*>failed</td><td class="n">2</td>', page)


def test_an_execution_reports_itself_as_the_same_page(demo_run: tuple[Any, str]) -> None:
    flow, identifier = demo_run
    page = flow.execution(identifier).report()
    assert page.startswith("<!DOCTYPE html>") and EXTERNAL.search(page) is None
    assert '<div class="failure" data-layer="Fit" data-split="3">' in page


def laminar(cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "laminar.cli", *arguments], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_laminar_report_writes_one_file(tmp_path: Path, demo_run: tuple[Any, str]) -> None:
    flow, identifier = demo_run
    store = flow.configuration.datastore.url
    written = laminar(tmp_path, "report", f"{FLOWS}:Demo", identifier, "--datastore", store, "-o", "run.html")
    assert written.returncode == 0, written.stderr
    assert written.stdout.startswith("Demo demo (failed): wrote run.html (")
    page = (tmp_path / "run.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "item 3 is bad" in page and EXTERNAL.search(page) is None
    missing = laminar(tmp_path, "report", f"{FLOWS}:Demo", "nope", "--datastore", store)
    assert missing.returncode == 1
    assert missing.stderr.startswith("laminar: error: ExecutionNotFound: Demo has no execution 'nope' in ")
    helped = laminar(tmp_path, "ui", "--help")
    assert helped.returncode == 0 and "127.0.0.1" in helped.stdout and "laminar[ui]" in helped.stdout


def test_laminar_ui_without_its_extra_says_how_to_install_it(tmp_path: Path) -> None:
    # A process where uvicorn cannot be imported (None in sys.modules: what an absent package raises).
    code = "import sys; sys.modules['uvicorn'] = None; from laminar.cli import main; sys.exit(main(['ui']))"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("laminar: error: ConfigurationError: laminar ui needs Starlette and uvicorn (")
    assert result.stderr.strip().endswith("install them with: pip install 'laminar[ui]'")


def write_run(store: Any, splits: int) -> None:
    """The records and documents a run of ``Live`` over ``splits`` items leaves, written through the
    datastore as the scheduler writes them (documents committed in batches of 256), without running it."""
    done = {"state": "finished"}
    store.write_split("Live", "big", "Parameters", 0, {"count": splits, "pause": 0.0}, set(), record=done)
    store.write_execution("Live", "big", {"flow": "Live", "id": "big", "created": 1000.0, "parameters": ["count"]})
    store.write_layer_record("Live", "big", "Parameters", {"state": "finished", "splits": None, "names": ["count"]})
    store.write_split("Live", "big", "Items", 0, {"n": range(splits)}, {"n"}, record={"state": "finished"})
    record = {"state": "finished", "splits": None, "names": ["n"], "started": 1000.0, "ended": 1000.5}
    store.write_layer_record("Live", "big", "Items", record)
    batch: dict[int, Any] = {}
    for index in range(splits):
        started = 1001.0 + index * 0.001
        record = {"state": "finished", "attempt": 1, "started": started, "ended": started + 0.004}
        record["resources"] = {"cpu": 1, "memory": 1500, "gpu": 0}
        meta = store.write_split("Live", "big", "Work", index, {"y": index}, set(), record, commit=False)
        batch[index] = meta.document
        if len(batch) == 256 or index == splits - 1:
            store.commit_splits("Live", "big", "Work", batch)
            batch = {}
    record = {"state": "finished", "splits": splits, "names": ["y"], "started": 1001.0, "ended": 1001.0 + splits / 1000}
    store.write_layer_record("Live", "big", "Work", record)
    store.write_split("Live", "big", "Total", 0, {"total": 0}, set(), record={"state": "finished"})
    store.write_layer_record("Live", "big", "Total", {"state": "finished", "splits": None, "names": ["total"]})


@pytest.mark.slow
def test_a_report_of_a_hundred_thousand_splits_takes_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_run(datastores.Local(root=str(tmp_path / "store")), 100_000)
    flow = Live(datastore=datastores.Local(root=str(tmp_path / "store")))  # a fresh reader: nothing cached
    started = time.perf_counter()
    view = flow_view(flow, "big")
    read = time.perf_counter() - started
    page = document(view)
    whole = time.perf_counter() - started
    size = len(page.encode())
    with capsys.disabled():
        print(
            f"\nreport of 100,000 splits from a Local datastore: read {read:.2f} s, all {whole:.2f} s, {size:,} bytes"
        )
    assert view.state == "finished" and len(view.layer("Work").split_views) == 100_000
    assert whole < 30 and size < 1_000_000  # seconds on a 2-core machine; the figures are printed above
    assert "of 100000 recorded splits" in page
