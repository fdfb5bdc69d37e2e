"""The secretary's pages in a real headless Chromium against a real `diagnosis-service serve` process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.browser import ensure_chromium, new_driver
from tests.support.http import free_port, wait_until_up

EXE = str(Path(sys.executable).parent / "diagnosis-service")


@pytest.fixture(scope="session")
def chromium(request) -> None:
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def say(text: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n{text}", flush=True)

    problem = ensure_chromium(say)
    if problem:
        pytest.fail(f"browser tests need Debian's Chromium: {problem}", pytrace=False)


@dataclass
class Live:
    base: str
    tokens: dict[str, str]
    db_url: str
    log: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory, chromium):
    """A seeded SQLite database (24 branches, 2025-11 and 2025-12 diagnosed) behind a real server process."""
    from tests.support.service import make_service

    home = tmp_path_factory.mktemp("live")
    svc = make_service("sqlite", home)
    tokens, db_url = dict(svc.tokens), svc.db.url
    svc.close()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "DIAGNOSIS_VAR": str(home / "var"),
           "DIAGNOSIS_MODELS": str(home / "models"), "DIAGNOSIS_SECRET_KEY": "browser-test-secret",
           "DIAGNOSIS_LOG_LEVEL": "INFO"}
    log_path = home / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
        try:
            wait_until_up(f"http://127.0.0.1:{port}")
            yield Live(f"http://127.0.0.1:{port}", tokens, db_url, log_path)
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture()
def browser(chromium):
    driver = new_driver()
    yield driver
    driver.quit()
