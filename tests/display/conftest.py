"""Fixtures of the display tests: a failed run of ``Demo``, a headless Chromium, ``laminar ui`` served."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

collect_ignore = ["runflows.py", "serving.py"]  # what the tests run and use, not tests

#: Chromium's switches for a run that talks to nothing but the pages it is given.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1600",
)
INSTALL = "bash tests/setup.sh (it installs Debian's chromium and chromium-driver)"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, str]:
    """A run of ``Demo`` on a Thread executor and a Local datastore that fails at split 3 of ``Fit``."""
    from runflows import Demo

    from laminar.configurations import datastores, executors

    root = tmp_path_factory.mktemp("demo") / "store"
    flow = Demo(datastore=datastores.Local(root=str(root)), executor=executors.Thread())
    with pytest.raises(ValueError, match="item 3 is bad"):
        flow(execution="demo", progress=False, count=8, bad=3)
    return flow, "demo"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests save what they saw (printed; kept with pytest's temporary directories)."""
    where = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots of the browser tests: {where}")
    return where


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's headless Chromium driven by Selenium, with a fresh profile; no browser is downloaded.

    A missing Chromium fails loudly (never a skip) with the command that installs it: ``tests/setup.sh``,
    which the README's test command (and ``.ci/run``) runs first.
    """
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail(f"headless Chromium is missing (chromium: {chromium}, chromedriver: {driver}); run {INSTALL}")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    session = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    session.set_page_load_timeout(60)
    yield session
    session.quit()
