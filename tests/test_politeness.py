"""Incremental and polite fetching across runs: unchanged bodies, 410 Gone, Retry-After, back-off."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from digest.store.sources import backoff_seconds
from tests.http_server import Response, http_server

ROOT = Path(__file__).resolve().parents[1]


def rss(title: str) -> bytes:
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>
<item><title>T</title><guid>{title}-1</guid><description>The {title} feed says something specific about
forty-two new datacentres opening in Finland next spring, with numbers.</description></item></channel></rss>""".encode()


def run(config: Path, day: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", "once", "--config", str(config), "--date", day],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_backoff_grows_and_is_capped() -> None:
    waits = [backoff_seconds(n) for n in range(1, 9)]
    assert waits[0] == 0  # one failure: the next run simply tries again
    assert waits[1] == 6 * 3600 and waits[2] == 12 * 3600 and waits[3] == 24 * 3600
    assert waits == sorted(waits) and waits[-1] == 7 * 24 * 3600


def test_runs_skip_gone_feeds_honour_retry_after_and_do_not_reparse_unchanged_bodies(tmp_path: Path) -> None:
    with http_server() as site:
        site.add("/same.xml", Response(body=rss("Same")))  # no ETag: only the body hash can tell
        site.add("/gone.xml", Response(410, b"gone"))
        site.add("/busy.xml", Response(429, b"slow down", headers={"Retry-After": "7200"}))
        site.add("/flaky.xml", Response(500, b"oops"))
        config = tmp_path / "config" / "digest.toml"
        config.parent.mkdir()
        feeds = "".join(
            f'[[feeds]]\nurl = "{site.base}/{n}.xml"\nname = "{n}"\n' for n in ("same", "gone", "busy", "flaky")
        )
        config.write_text(
            f'[paths]\nseeds = "{ROOT / "seeds"}"\n[fetch]\nallow_private_networks = true\n{feeds}', encoding="utf-8"
        )
        first = run(config, "2026-11-24")
        second = run(config, "2026-11-24")
        hits = [path for path, _ in site.hits]
        listing = subprocess.run(
            [sys.executable, "-m", "digest", "sources", "list", "--json", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    assert first.returncode == 0, first.stderr
    assert "sources: 5 ok, 0 not modified, 3 failed" in first.stderr
    assert "HTTP 410 Gone" in first.stderr and "asked to wait 7200 s" in first.stderr
    # second run: same body -> not modified; gone and busy are not requested again; flaky is retried once more
    assert second.returncode == 0, second.stderr
    assert "sources: 4 ok, 1 not modified, 1 failed, 2 deferred" in second.stderr
    table = {
        line.split()[3]: line for line in second.stderr.splitlines() if re.match(r"digest:\s+(deferred|failed) ", line)
    }
    assert "410 Gone" in table["gone"] and "deferred" in table["gone"]
    assert "backing off" in table["busy"] and "deferred" in table["busy"]
    assert hits.count("/gone.xml") == 1 and hits.count("/busy.xml") == 1
    assert hits.count("/same.xml") == 2 and hits.count("/flaky.xml") == 2
    rows = {r["name"]: r for r in map(json.loads, listing.splitlines())}
    assert rows["gone"]["disabled"] == 1
    assert rows["flaky"]["failures"] == 2 and rows["flaky"]["next_attempt_at"]  # two in a row: now it waits
    assert rows["same"]["failures"] == 0 and rows["same"]["last_status"] == "not_modified"


def test_a_permanent_redirect_moves_a_subscription_and_is_reported_for_config_feeds(tmp_path: Path) -> None:
    with http_server() as site:
        site.add("/old.xml", Response(301, headers={"Location": "/new.xml"}))
        site.add("/temp.xml", Response(302, headers={"Location": "/new2.xml"}))
        site.add("/cfg.xml", Response(308, headers={"Location": "/cfg-new.xml"}))
        for path in ("/new.xml", "/new2.xml", "/cfg-new.xml"):
            site.add(path, Response(body=rss(path.strip("/.xml").replace("-", ""))))
        config = tmp_path / "config" / "digest.toml"
        config.parent.mkdir()
        config.write_text(
            f'[paths]\nseeds = "{ROOT / "seeds"}"\n[fetch]\nallow_private_networks = true\n'
            f'[[feeds]]\nurl = "{site.base}/cfg.xml"\n',
            encoding="utf-8",
        )
        for path in ("/old.xml", "/temp.xml"):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "digest",
                    "sources",
                    "add",
                    f"{site.base}{path}",
                    "--no-check",
                    "--config",
                    str(config),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        first = run(config, "2026-11-24")
        site.hits.clear()
        second = run(config, "2026-11-25")
        requested = [path for path, _ in site.hits]
        listing = subprocess.run(
            [sys.executable, "-m", "digest", "sources", "export", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    assert first.returncode == 0, first.stderr
    assert f"{site.base}/old.xml moved permanently to {site.base}/new.xml: followed" in first.stderr
    assert f"{site.base}/cfg.xml moved permanently to {site.base}/cfg-new.xml: update the config" in first.stderr
    assert "temp.xml moved" not in first.stderr  # a temporary redirect moves nothing
    assert f"{site.base}/new.xml" in listing and f"{site.base}/old.xml" not in listing
    assert "/old.xml" not in requested and "/new.xml" in requested and "/temp.xml" in requested
    assert second.returncode == 1 and "nothing new to read" in second.stderr  # same bodies: nothing new


def test_progress_shows_on_a_terminal_only(tmp_path: Path) -> None:
    import os
    import pty

    with http_server() as site:
        site.add("/a.xml", Response(body=rss("A")))
        site.add("/b.xml", Response(body=rss("B")))
        config = tmp_path / "config" / "digest.toml"
        config.parent.mkdir()
        feeds = "".join(f'[[feeds]]\nurl = "{site.base}/{n}.xml"\n' for n in ("a", "b"))
        config.write_text(
            f'[paths]\nseeds = "{tmp_path / "none"}"\n[fetch]\nallow_private_networks = true\n{feeds}', encoding="utf-8"
        )
        main, secondary = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "fetch", "--config", str(config)],
            stderr=secondary,
            stdout=subprocess.DEVNULL,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=60)
        os.close(main)
        piped = subprocess.run(
            [sys.executable, "-m", "digest", "fetch", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    on_terminal = b"".join(chunks).decode()
    assert re.search(r"fetching feeds\s+\[#+\]\s+2/2", on_terminal), on_terminal  # a full bar at the end
    assert "status  items  source" in on_terminal  # then the summary table
    assert "fetching feeds" not in piped.stderr and "sources:" in piped.stderr
