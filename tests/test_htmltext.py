"""htmltext: the sanitiser's allowlist and block text, on examples and on arbitrary input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.htmltext import html_to_text, sanitize_html

EVENT_ATTRIBUTE = re.compile(r"<[^>]*\son\w+\s*=", re.I)
URL_VALUE = re.compile(r'\s(?:href|src)="([^"]*)"')


# --- sanitize_html -----------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        '<script>alert("x")</script>',
        "<style>body{display:none}</style>",
        '<iframe src="https://evil.example/"></iframe>',
        '<svg onload="x()"><text>svg text</text></svg>',
        '<object data="x.swf"></object><embed src="x.swf">',
        '<form action="https://evil.example/"><input name="pw"><button>Log in</button></form>',
        '<img src="x.png" onerror="steal()">',
        '<p onclick="steal()" onmouseover="steal()">text</p>',
        '<a href="javascript:alert(1)">x</a>',
        '<a href=" JaVa&#x09;ScRiPt:alert(1)">x</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
        '<a href="vbscript:msgbox(1)">x</a>',
        "<!-- <script>alert(1)</script> -->",
    ],
)
def test_hostile_markup_is_removed(hostile: str) -> None:
    for base in (None, "https://blog.example/post/"):
        clean = sanitize_html(f"<p>keep</p>{hostile}", base).lower()
        assert "keep" in clean
        for bad in ("<script", "<style", "<iframe", "<svg", "<object", "<embed", "<form", "<input", "<button"):
            assert bad not in clean
        for bad in ("javascript:", "vbscript:", "data:", "alert(", "steal(", "svg text", "log in", "display:none"):
            assert bad not in clean
        assert not EVENT_ATTRIBUTE.search(clean)


def test_allowed_structure_survives_and_links_get_rel() -> None:
    html = (
        '<h2>Head</h2><p>A <em>b</em> <strong>c</strong> <a href="https://x.example/" title="t">link</a></p>'
        "<ul><li>one</li></ul><blockquote>q</blockquote><pre><code>x = 1</code></pre>"
        '<figure><img src="https://x.example/i.png" alt="pic"><figcaption>cap</figcaption></figure>'
        "<table><tr><th>k</th><td>v</td></tr></table>"
    )
    clean = sanitize_html(html)
    for kept in ("<h2>", "<em>", "<strong>", "<ul>", "<li>", "<blockquote>", "<pre><code>", "<figure>", "<figcaption>"):
        assert kept in clean
    assert '<img src="https://x.example/i.png" alt="pic">' in clean
    assert "<th>k</th><td>v</td>" in clean
    (rel,) = re.findall(r'rel="([^"]*)"', clean)
    assert {"noopener", "nofollow"} <= set(rel.split())


def test_relative_urls_resolve_against_the_base_url() -> None:
    html = '<a href="/a">a</a><a href="b">b</a><a href="//cdn.example/c">c</a><img src="i.png"><a href="#top">t</a>'
    clean = sanitize_html(html, "https://blog.example/posts/1/")
    assert 'href="https://blog.example/a"' in clean
    assert 'href="https://blog.example/posts/1/b"' in clean
    assert 'href="https://cdn.example/c"' in clean
    assert 'src="https://blog.example/posts/1/i.png"' in clean
    assert 'href="https://blog.example/posts/1/#top"' in clean
    assert 'href="/a"' in sanitize_html(html)  # without a base they stay as they are


def test_a_hostile_base_url_cannot_smuggle_a_scheme() -> None:
    clean = sanitize_html('<a href="x">x</a><img src="y">', "javascript:alert(1)//")
    assert "javascript" not in clean and "href" not in clean and "src" not in clean


def test_mailto_is_kept() -> None:
    assert 'href="mailto:a@example.org"' in sanitize_html('<a href="mailto:a@example.org">mail</a>')


# --- html_to_text ------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("<div>a <b>bold</b>\n\n   word</div>", "a bold word"),
        ("<ul><li>first</li><li><p>second</p></li><li></li></ul><p>after</p>", "• first\n\n• second\n\nafter"),
        ("<h1>Title</h1><h3><a href='x'>Sub</a></h3>body", "# Title\n\n# Sub\n\nbody"),
        ("<blockquote>quoted</blockquote>tail", "quoted\n\ntail"),
        ("line one<br>line two<br><br>next block<br/>\n<br />last", "line one line two\n\nnext block\n\nlast"),
        ("<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>b</td></tr></table>", "k | v\n\na | b"),
        ("<p>a &amp; b &lt;c&gt; &eacute; &#8212; &#x2713;&nbsp;ok</p>", "a & b <c> é — ✓ ok"),
        ("<nav>Home | About</nav><header>Site</header><p>Real text</p><footer>(c)</footer>", "Real text"),
        ("<p>a<script>if (a<b) {x()}</script><style>p{}</style>b</p>", "ab"),
        ("<aside>ad</aside><form><select><option>x</option></select><button>Go</button></form>kept", "kept"),
        ("<noscript>enable js</noscript><template><p>t</p></template>kept", "kept"),
        ("<nav><nav>inner</nav>still nav</nav>kept", "kept"),
        ("", ""),
        ("just text", "just text"),
        ("<p>unclosed <b>bold", "unclosed bold"),
    ],
)
def test_block_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_text_of_sanitised_html_drops_what_the_sanitiser_drops() -> None:
    html = "<p>Keep</p><script>x()</script><svg><text>svg</text></svg><form><button>Go</button></form><nav>Menu</nav>"
    assert html_to_text(sanitize_html(html)) == "Keep"


def test_lone_surrogates_become_replacement_characters() -> None:
    # json.loads('"\\ud800"') makes one; SQLite and email would refuse it later.
    assert html_to_text("<p>a\ud800b</p>") == "a\ufffdb"
    assert "\ufffd" in sanitize_html("<p>a\udfffb</p>")


# --- arbitrary input ---------------------------------------------------------

MARKUP = st.sampled_from(
    ["<p>", "</p>", "<li>", "</li>", "<br>", "<h2>", "</h2>", "<td>", "<nav>", "</nav>", "<script>", "</script>",
     "<style>", "<svg>", "<!--", "-->", "<![CDATA[", "]]>", "<!DOCTYPE", "<?xml", "&", "&#", "&#x", ";", "&amp;",
     "<", ">", "</", '"', "'", "=", "<a href=", "javascript:", " on", "onerror=", "\x00", "\ud800", "\n", " "]
)  # fmt: skip
HTMLISH = st.lists(st.one_of(MARKUP, st.text(max_size=8)), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(HTMLISH)
def test_html_to_text_never_raises_and_keeps_its_shape(html: str) -> None:
    text = html_to_text(html)
    text.encode("utf-8")  # storable and sendable
    for block in text.split("\n\n") if text else []:
        assert block and block == block.strip() and "\n" not in block and "  " not in block


@settings(max_examples=300, deadline=None)
@given(HTMLISH)
def test_sanitised_html_never_carries_script_or_handlers(html: str) -> None:
    clean = sanitize_html(html, "https://blog.example/p/").lower()
    assert "<script" not in clean and "<svg" not in clean
    assert not EVENT_ATTRIBUTE.search(clean)
    # with a base every link is absolute, so each must start with an allowed scheme
    assert all(v.startswith(("http://", "https://", "mailto:")) for v in URL_VALUE.findall(clean))
    html_to_text(clean)
