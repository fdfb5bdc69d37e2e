"""A real headless Chromium from Debian's packages, driven by Selenium (never a browser a tool downloads).

``ensure_chromium`` installs ``chromium``, ``chromium-driver`` and ``fonts-noto-cjk`` with apt-get when
one is missing (as root, saying so), and fails with what to do otherwise.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PACKAGES = ("chromium", "chromium-driver", "fonts-noto-cjk")
APT_SECONDS = 900  # an install from the package registry, bounded


def _missing() -> list[str]:
    missing = [pkg for pkg, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER))
               if not os.access(path, os.X_OK)]
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False).stdout \
        if shutil.which("fc-list") else ""
    if "Noto Sans CJK" not in fonts:
        missing.append("fonts-noto-cjk")
    return missing


def ensure_chromium(say: Callable[[str], None]) -> str | None:
    """None when Chromium, its driver and CJK fonts are there (installed now if need be); else why not.
    Test processes running side by side (pytest -n) install one at a time: apt holds a lock of its own."""
    if not _missing():
        return None
    with open(os.path.join(tempfile.gettempdir(), "diagnosis-service-apt.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install(say)


def _install(say: Callable[[str], None]) -> str | None:
    missing = _missing()  # again: another test process may have installed them while this one waited
    if not missing:
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return (f"missing Debian packages {', '.join(missing)}: install them as root "
                f"(apt-get install {' '.join(PACKAGES)}) and run the tests again")
    say(f"browser tests: installing {', '.join(missing)} with apt-get (Debian packages; once per machine)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=APT_SECONDS, check=False)
        if done.returncode != 0:
            return f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
    still = _missing()
    return f"still missing after apt-get: {', '.join(still)}" if still else None


def new_driver(lang: str = "zh-CN", width: int = 1280, height: int = 1600):
    """A headless Chromium session (Debian's binary and driver; no network beyond 127.0.0.1)."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", f"--lang={lang}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for tests that read it
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def full_page_png(driver, path) -> None:
    """A screenshot of the whole page (not only the window), as PNG."""
    import base64

    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(base64.b64decode(shot["data"]))
    tmp.replace(path)


__all__ = ["ensure_chromium", "full_page_png", "new_driver"]
