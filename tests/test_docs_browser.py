"""The documentation site as a reader sees it: every page rendered by headless Chromium, at a
desktop and a phone width, checked for a header that fits in one row and for no horizontal
overflow (the page scrolls only down; wide tables and code scroll inside their own boxes).

Chromium comes from the system (CI installs the Debian package); without it the test is skipped
with the reason, unless BATCH_ROUTER_REQUIRE_CHROMIUM=1 (as in CI), which makes that a failure.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_PROBE = """<script>
window.addEventListener("load", () => {
  const doc = document.documentElement;
  const header = document.querySelector(".md-header");
  const wide = [...document.querySelectorAll(".md-content *")].filter(
    (el) => el.getBoundingClientRect().right > window.innerWidth + 1
      && getComputedStyle(el).position !== "fixed"
      && !el.closest("pre, .md-typeset__scrollwrap, .highlight, table")
  ).slice(0, 3).map((el) => el.tagName + "." + el.className);
  document.body.setAttribute("data-probe", JSON.stringify({
    width: window.innerWidth,
    scroll: doc.scrollWidth,
    header: header ? header.getBoundingClientRect().height : null,
    wide: wide,
  }));
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("BATCH_ROUTER_REQUIRE_CHROMIUM") == "1":
        pytest.fail("Chromium is required here (BATCH_ROUTER_REQUIRE_CHROMIUM=1) but not found")
    pytest.skip("no Chromium on this machine (apt-get install chromium); CI runs this test")


def _probe(browser: str, page: Path, width: int) -> dict[str, object]:
    proc = subprocess.run(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},900",
            "--virtual-time-budget=4000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    marker = 'data-probe="'
    start = proc.stdout.find(marker)
    assert start != -1, f"{page.name} at {width}px: no probe result ({proc.stderr[-500:]})"
    end = proc.stdout.index('"', start + len(marker))
    return dict(json.loads(html.unescape(proc.stdout[start + len(marker) : end])))


def test_every_page_fits_its_window_at_desktop_and_phone_widths(tmp_path: Path) -> None:
    browser = _chromium()
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, build.stderr
    pages = sorted(p for p in site.glob("*.html") if p.name != "404.html")
    assert len(pages) >= 15
    for page in pages:
        page.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    # 500 px: the narrowest window headless Chromium lays out (a phone held sideways).
    jobs = [(page, width) for page in pages for width in (1280, 500)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda job: (job, _probe(browser, *job)), jobs))
    problems = []
    for (page, width), probe in found:
        if int(str(probe["scroll"])) > int(str(probe["width"])) or probe["wide"]:
            problems.append(f"{page.name} at {width}px scrolls sideways: {probe}")
        header = probe["header"]
        if header is None or float(str(header)) > 72:
            problems.append(f"{page.name} at {width}px: the header takes {header}px")
    assert not problems, "\n".join(problems)
