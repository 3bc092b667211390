"""What a reader sees, in a real browser engine (headless Chromium): screenshots and inert payloads.

Screenshots land in test-artifacts/ for a person to look at. Without Chromium these
tests skip with a reason, except in CI (CI=true), where .ci/run installs it and a
missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from digest.archive import publish_issue
from digest.render import make_environment, render_issue
from tests.sample import BRAND, make_pick, sample_issue

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=2000"]  # fmt: skip

if CHROMIUM is None and os.environ.get("CI") == "true":
    raise RuntimeError("CI must have Chromium for the browser tests (.ci/run installs Debian's chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine: apt-get install chromium")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=90
    )


def screenshot(
    tmp_path: Path, page: Path, name: str, width: int = 700, height: int = 1400, *, dark: bool = False
) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / name
    out.unlink(missing_ok=True)
    scheme = ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"] if dark else []
    proc = chromium(tmp_path, *scheme, f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri())
    assert out.is_file() and out.stat().st_size > 10_000, proc.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return out


def test_email_html_renders_in_a_browser(tmp_path: Path) -> None:
    page = tmp_path / "email.html"
    page.write_text(render_issue(make_environment(), sample_issue(), BRAND).html, encoding="utf-8")
    light = screenshot(tmp_path, page, "email.png", width=660)
    dark = screenshot(tmp_path, page, "email-dark.png", width=660, dark=True)
    assert light.read_bytes() != dark.read_bytes()  # the dark-mode rules took effect (look at both)
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert "Open-weight models from three labs" in dom


def test_archive_pages_render_and_hostile_text_stays_text(tmp_path: Path) -> None:
    payload = (
        "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\"><script>document.title='pwned'</script>"
    )
    issue = sample_issue(make_pick(1, f"A claim with a payload {payload} inside it.", title=payload, source=payload))
    archive = tmp_path / "archive"
    page = publish_issue(archive, make_environment(), BRAND, issue, [])
    light = screenshot(tmp_path, page, "archive-issue.png")
    dark = screenshot(tmp_path, page, "archive-issue-dark.png", dark=True)
    assert light.read_bytes() != dark.read_bytes()
    screenshot(tmp_path, archive / "index.html", "archive-index.png", height=700)
    screenshot(tmp_path, archive / "index.html", "archive-index-dark.png", height=700, dark=True)
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]  # the handler never ran
    assert "<title>pwned</title>" not in dom
    assert "A claim with a payload" in dom


def test_search_finds_an_insight_by_a_word_from_disk_with_no_console_errors(tmp_path: Path) -> None:
    first = sample_issue()
    second = sample_issue(
        make_pick(1, "Three municipalities banned facial recognition in transit stations."),
        day=first.date.replace(day=25),
        number=8,
    )
    archive = tmp_path / "archive"
    publish_issue(archive, make_environment(), BRAND, first, [])
    publish_issue(archive, make_environment(), BRAND, second, [first])
    index = archive / "index.html"
    proc = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", index.as_uri() + "?q=facial+transit")
    dom = proc.stdout
    results = dom.split('id="search-results"', 1)[1].split("</ol>", 1)[0]
    assert 'href="issues/2026-11-25.html#insight-1"' in results
    assert "Open-weight" not in results  # only the matching insight
    assert "1 found" in dom
    console = "\n".join(line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Refused" in line)
    assert "Uncaught" not in console and "Refused" not in console, console
    # follow the result's link as a reader would: the issue page opens at that insight
    href = results.split('href="', 1)[1].split('"', 1)[0]
    target = (archive / href.split("#")[0]).resolve()
    followed = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", target.as_uri() + "#insight-1")
    assert 'id="insight-1"' in followed.stdout and "facial recognition" in followed.stdout
    assert "Uncaught" not in followed.stderr and "Refused" not in followed.stderr
    # without a query the page still lists every issue: it works without JavaScript too
    plain = index.read_text(encoding="utf-8")
    assert plain.count('href="issues/2026-11-2') == 2 and "November 2026" in plain
