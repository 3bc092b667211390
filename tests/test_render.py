"""Rendering: golden email parts of a fixed issue, autoescaping, safe URLs, one-line subjects.

Refresh the goldens after an intended change with: UPDATE_GOLDEN=1 python -m pytest tests/test_render.py
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.errors import RenderError
from digest.render import make_environment, make_subject, render_atom, render_index, render_issue, render_issue_page
from digest.serialize import issue_from_dict, issue_to_dict
from tests.sample import BRAND, make_pick, sample_issue

GOLDEN = Path(__file__).parent / "golden"
PAYLOAD = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1">'


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 once"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_email_text_matches_golden() -> None:
    check_golden("email.txt", render_issue(make_environment(), sample_issue(), BRAND).text)


def test_email_html_matches_golden() -> None:
    check_golden("email.html", render_issue(make_environment(), sample_issue(), BRAND).html)


def test_email_opens_with_what_was_read_and_closes_with_failures() -> None:
    rendered = render_issue(make_environment(), sample_issue(), BRAND)
    for part in (rendered.text, rendered.html):
        assert "12 items read" in part and "40 candidate insights" in part
        assert "Broken Feed" in part and "HTTP 500" in part
        assert part.index("12 items read") < part.rindex("Open-weight") < part.index("Broken Feed")
    assert 'style="' in rendered.html  # inlined: many mail clients drop <style>
    kept = rendered.html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "prefers-color-scheme: dark" in kept and ".text {" not in kept  # only @media rules remain


def test_no_failures_note_when_nothing_failed() -> None:
    issue = sample_issue()
    clean = issue.__class__(
        **{**{f: getattr(issue, f) for f in issue.__slots__}, "stats": issue.stats.__class__(3, 0, 12, 40, 33)}
    )
    rendered = render_issue(make_environment(), clean, BRAND)
    assert "problems" not in rendered.text and "problems" not in rendered.html


def test_feed_text_is_escaped_everywhere_and_bad_urls_are_not_links() -> None:
    issue = sample_issue(make_pick(1, PAYLOAD, title=PAYLOAD, source=PAYLOAD, url="javascript:alert(1)"))
    env = make_environment()
    pages = {
        "email": render_issue(env, issue, BRAND).html,
        "page": render_issue_page(env, issue, BRAND, None, None),
        "index": render_index(env, [issue], BRAND),
        "atom": render_atom(env, [issue], BRAND, issue.generated_at),
    }
    for name, page in pages.items():
        assert "<script>window" not in page, name
        assert "<img src=x" not in page, name
        assert "javascript:" not in page, name
    assert "&lt;script&gt;" in pages["page"]


def test_issue_page_has_anchors_pager_and_why() -> None:
    page = render_issue_page(make_environment(), sample_issue(), BRAND, datetime(2026, 11, 23).date(), None)
    assert 'id="insight-1"' in page and 'href="#insight-1"' in page
    assert 'href="2026-11-23.html"' in page and 'rel="next"' not in page
    assert "informativeness" in page
    assert 'rel="noopener nofollow"' in page
    assert "Content-Security-Policy" in page


def test_atom_feed_parses_cleanly() -> None:
    issues = [sample_issue(), sample_issue(day=datetime(2026, 11, 25).date(), number=8)]
    parsed = feedparser.parse(render_atom(make_environment(), issues, BRAND, datetime(2026, 11, 25, tzinfo=UTC)))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.id for e in parsed.entries] == ["urn:digest:issue:2026-11-25", "urn:digest:issue:2026-11-24"]
    assert "Open-weight models" in parsed.entries[0].content[0].value


def test_override_folder_wins_and_strict_undefined_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "email.txt.j2").write_text("custom {{ issue.number }}\n", encoding="utf-8")
    assert render_issue(make_environment(tmp_path), sample_issue(), BRAND).text == "custom 7\n"
    (tmp_path / "email.txt.j2").write_text("{{ no_such_name }}\n", encoding="utf-8")
    with pytest.raises(RenderError, match="no_such_name"):
        render_issue(make_environment(tmp_path), sample_issue(), BRAND)


def test_issue_json_round_trips() -> None:
    issue = sample_issue()
    assert issue_from_dict(issue_to_dict(issue)) == issue


@given(st.text(max_size=300))
def test_subject_is_always_one_clean_line(text: str) -> None:
    subject = make_subject(sample_issue(make_pick(1, text or "x")), BRAND)
    assert not any(ord(c) < 32 or c in "\x7f\u2028\u2029" for c in subject)
    assert len(subject) <= len(BRAND.title) + 80


def test_markup_templates_are_autoescaped_and_text_templates_are_not(tmp_path: Path) -> None:
    for name in ("t.html.j2", "t.xml.j2", "t.txt.j2", "t.html"):
        (tmp_path / name).write_text("{{ v }}", encoding="utf-8")
    env = make_environment(tmp_path)
    render = {name: env.get_template(name).render(v="<b>Tom & Jerry</b>") for name in ("t.html.j2", "t.xml.j2")}
    assert set(render.values()) == {"&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"}
    assert env.get_template("t.html").render(v="<i>") == "&lt;i&gt;"
    assert env.get_template("t.txt.j2").render(v="<b>Tom & Jerry</b>") == "<b>Tom & Jerry</b>"
    assert "Zürich's regulator" in render_issue(env, sample_issue(), BRAND).text  # not &#39;


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://example.org/a", "https://example.org/a"),
        (" HTTP://Example.org ", "HTTP://Example.org"),
        ("mailto:a@example.org", "mailto:a@example.org"),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("java\nscript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//evil.example.org", None),
        ("https://example.org/\x00x", None),
        (None, None),
        ("", None),
    ],
)
def test_safe_url_allows_only_http_https_and_mailto(url: str | None, expected: str | None) -> None:
    from digest.render import safe_url

    assert safe_url(url) == expected


def test_a_missing_template_is_a_render_error(tmp_path: Path) -> None:
    env = make_environment(tmp_path)
    (tmp_path / "issue.html.j2").write_text('{% include "nowhere.html.j2" %}', encoding="utf-8")
    with pytest.raises(RenderError, match="nowhere"):
        render_issue_page(env, sample_issue(), BRAND, None, None)


def test_subject_drops_every_kind_of_line_break_and_control_character() -> None:
    text = "Lead\r\nBcc: x\x85y\u2028z\x0bw\x1cv\x9bu\x00t"
    subject = make_subject(sample_issue(make_pick(1, text)), BRAND)
    assert subject == "Daily Insights — 2026-11-24: Lead Bcc: x y z w v u t"


def test_subject_shortens_a_long_lead_at_a_word() -> None:
    subject = make_subject(sample_issue(), BRAND)
    lead = subject.split(": ", 1)[1]
    assert subject.startswith("Daily Insights — 2026-11-24: Open-weight models")
    assert len(lead) <= 60 and lead.endswith("…") and not lead[:-1].endswith(" ")


def test_issue_json_round_trips_through_json_text_with_generated_at_in_utc() -> None:
    import json
    from datetime import timedelta, timezone

    issue = sample_issue()
    paris = issue.__class__(
        **{
            **{f: getattr(issue, f) for f in issue.__slots__},
            "generated_at": issue.generated_at.astimezone(timezone(timedelta(hours=1))),
        }
    )
    data = json.loads(json.dumps(issue_to_dict(paris), ensure_ascii=False))
    assert data["generated_at"] == "2026-11-24T07:00:03+00:00"
    assert issue_from_dict(data) == issue  # the same instant
    assert data["insights"][1]["text"].startswith("Zürich")
