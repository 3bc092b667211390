"""DNS rebinding: a connection goes only to the address that passed the check (issue #7, guarantee 4).

No packet leaves 127.0.0.1. Names resolve through a scripted resolver; the backend under the
guard is a recording fake that connects to 127.0.0.1 only (a "public" answer is either refused
by it without connecting, or, where a test says so, forwarded to a loopback server).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx
import pytest
import trustme

from digest.config import FetchSettings
from digest.errors import FetchError
from digest.models import FeedSpec, RawFeed
from digest.sources import fetch
from digest.sources.guard import GuardedBackend, Unreachable

from .http_server import Response, http_server

RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
PUBLIC = "93.184.215.14"  # never connected to: the fake backend refuses it or forwards it to loopback
PUBLIC6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
TIMEOUT = httpx.Timeout(3)
LIMITS = httpx.Limits(max_connections=2, max_keepalive_connections=2)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class Answers:
    """A resolver answering each lookup with the next answer (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class LoopbackOnly(httpcore.AsyncNetworkBackend):
    """Records every address asked for; connects to 127.0.0.1, or to a loopback port `forward` names."""

    def __init__(self, forward: dict[str, int] | None = None) -> None:
        self.asked: list[tuple[str, int]] = []
        self.forward = forward or {}
        self.real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.asked.append((host, port))
        if host == "127.0.0.1":
            return await self.real.connect_tcp("127.0.0.1", port, timeout=timeout)
        if host in self.forward:
            return await self.real.connect_tcp("127.0.0.1", self.forward[host], timeout=timeout)
        raise httpcore.ConnectError(f"test backend: not connecting to {host}")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def client(backend: httpcore.AsyncNetworkBackend, tls: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    return fetch.guarded_client(False, timeout=TIMEOUT, limits=LIMITS, headers={}, tls=tls, backend=backend)


def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_at_connect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = Answers([PUBLIC], ["127.0.0.1"])  # the check hears a public address, the connection loopback
    monkeypatch.setattr(fetch, "resolve", answers)  # check_address's lookup
    inner = LoopbackOnly()
    with http_server() as site:
        site.add("/rss", Response(body=RSS))
        port = int(site.base.rsplit(":", 1)[1])

        async def run() -> None:
            async with client(GuardedBackend(False, inner=inner, resolver=answers)) as c:
                await fetch.fetch_feed(
                    c, FeedSpec(url=f"http://rebind.test:{port}/rss"), FetchSettings(timeout_seconds=3)
                )

        with pytest.raises(FetchError) as info:
            asyncio.run(run())
    assert info.value.reason == (
        "refused: rebind.test resolves to 127.0.0.1, a loopback address; set [fetch] allow_private_networks = true to allow"
    )
    assert answers.asked == ["rebind.test", "rebind.test"]  # the check's lookup, then the connection's own
    assert inner.asked == [] and site.hits == []  # nothing connected, nothing requested


def test_the_clients_of_a_run_are_guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    from digest.sources import guard

    check, connect = Answers([PUBLIC]), Answers(["127.0.0.1"])
    monkeypatch.setattr(fetch, "resolve", check)
    monkeypatch.setattr(guard, "resolve", connect)
    with http_server() as site:
        site.add("/rss", Response(body=RSS))
        port = int(site.base.rsplit(":", 1)[1])
        (outcome,) = fetch.fetch_all(
            [FeedSpec(url=f"http://rebind.test:{port}/rss")], FetchSettings(timeout_seconds=3), {}
        )
    assert isinstance(outcome, FetchError)
    assert outcome.reason.startswith("refused: rebind.test resolves to 127.0.0.1, a loopback address")
    assert check.asked == connect.asked == ["rebind.test"] and site.hits == []


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (["127.0.0.1"], "resolves to 127.0.0.1, a loopback address"),
        ([PUBLIC, "10.1.2.3"], "resolves to 10.1.2.3, a private address"),  # one internal answer spoils all
        (["::1"], "resolves to ::1, a loopback address"),
        (["::ffff:127.0.0.1"], "resolves to ::ffff:7f00:1, a loopback address"),
        (["169.254.169.254"], "resolves to 169.254.169.254, a link-local address"),
        (["fe80::1%2"], "resolves to fe80::1, a link-local address"),
        (["100.64.0.1"], "resolves to 100.64.0.1, a non-public address"),
        (["0.0.0.0"], "resolves to 0.0.0.0, a private address"),
    ],
)
def test_the_guard_refuses_before_the_inner_backend_is_asked(answer: list[str], reason: str) -> None:
    inner = LoopbackOnly()
    guard = GuardedBackend(False, inner=inner, resolver=Answers(answer))
    with pytest.raises(Unreachable, match=f"^refused: feed.test {reason}; set \\[fetch\\] allow_private_networks"):
        asyncio.run(guard.connect_tcp("feed.test", 80, timeout=3))
    assert inner.asked == []


def test_an_ip_literal_is_refused_in_the_words_check_address_uses() -> None:
    inner = LoopbackOnly()
    guard = GuardedBackend(False, inner=inner)  # the real resolver: a literal needs no DNS
    with pytest.raises(Unreachable) as info:
        asyncio.run(guard.connect_tcp("127.0.0.1", 80, timeout=3))
    assert str(info.value) == (
        "refused: 127.0.0.1 is a loopback address; set [fetch] allow_private_networks = true to allow"
    )
    assert inner.asked == []


def test_a_failed_lookup_at_connect_is_a_readable_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_answer(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    first = Answers([PUBLIC])
    monkeypatch.setattr(fetch, "resolve", first)

    async def run() -> None:
        async with client(GuardedBackend(False, inner=LoopbackOnly(), resolver=no_answer)) as c:
            await fetch.fetch_feed(c, FeedSpec(url="http://gone.test/rss"), FetchSettings(timeout_seconds=3))

    with pytest.raises(FetchError) as info:
        asyncio.run(run())
    assert info.value.reason == "DNS lookup failed for gone.test: Name or service not known"


def test_the_checked_addresses_are_connected_by_number_in_order() -> None:
    answers = Answers([PUBLIC6, PUBLIC])
    with http_server() as site:
        site.add("/rss", Response(body=RSS))
        port = int(site.base.rsplit(":", 1)[1])
        inner = LoopbackOnly(forward={PUBLIC: port})  # PUBLIC6 "has no route": refused by the fake

        async def run() -> httpx.Response:
            async with client(GuardedBackend(False, inner=inner, resolver=answers)) as c:
                return await c.get("http://feed.test/rss")

        response = asyncio.run(run())
    assert response.status_code == 200 and response.content == RSS
    assert answers.asked == ["feed.test"]  # one lookup
    assert inner.asked == [(PUBLIC6, 80), (PUBLIC, 80)]  # numbers, never the name
    assert [(path, headers["host"]) for path, headers in site.hits] == [("/rss", "feed.test")]


@contextmanager
def tls_server(cert_for: str, ca: trustme.CA) -> Iterator[tuple[int, list[str | None]]]:
    """An HTTPS server on 127.0.0.1 with a certificate for `cert_for`; yields its port and the SNI names seen."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(cert_for).configure_cert(context)
    seen: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: seen.append(name)  # type: ignore[func-returns-value]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                raw, _ = sock.accept()
            except TimeoutError:
                continue
            with raw:
                try:
                    conn = context.wrap_socket(raw, server_side=True)
                    conn.recv(65536)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(RSS), RSS)
                    )
                    conn.close()
                except (ssl.SSLError, OSError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], seen
    finally:
        stop.set()
        thread.join()
        sock.close()


@pytest.mark.parametrize("cert_for", ["feed.test", "other.test"])
def test_tls_checks_the_certificate_against_the_name_not_the_address(cert_for: str) -> None:
    ca = trustme.CA()
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    with tls_server(cert_for, ca) as (port, sni):

        async def run() -> httpx.Response:
            inner = LoopbackOnly(forward={PUBLIC: port})
            async with client(GuardedBackend(False, inner=inner, resolver=Answers([PUBLIC])), tls=trusting) as c:
                return await c.get("https://feed.test/rss")

        if cert_for == "feed.test":
            response = asyncio.run(run())
            assert response.status_code == 200 and response.content == RSS
        else:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                asyncio.run(run())
    assert sni == ["feed.test"]


def test_with_allow_private_networks_the_name_goes_through_untouched_and_a_loopback_feed_fetches() -> None:
    answers = Answers(["10.9.9.9"])
    inner = LoopbackOnly()
    with http_server() as site:
        site.add("/rss", Response(body=RSS))
        port = int(site.base.rsplit(":", 1)[1])
        guard = GuardedBackend(True, inner=inner, resolver=answers)

        async def connect() -> None:
            stream = await guard.connect_tcp("127.0.0.1", port, timeout=3)
            await stream.aclose()

        asyncio.run(connect())
        (outcome,) = fetch.fetch_all(
            [FeedSpec(url=f"{site.base}/rss")], FetchSettings(timeout_seconds=3, allow_private_networks=True), {}
        )
    assert answers.asked == [] and inner.asked == [("127.0.0.1", port)]
    assert isinstance(outcome, RawFeed) and outcome.content == RSS


def test_a_no_proxy_host_is_still_guarded_and_other_hosts_still_go_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with http_server() as proxy:
        proxy.add(f"http://{PUBLIC}/rss", Response(body=RSS))
        monkeypatch.setenv("HTTP_PROXY", proxy.base)
        monkeypatch.setenv("NO_PROXY", "rebind.test")
        inner = LoopbackOnly()

        async def run(url: str) -> httpx.Response:
            async with client(GuardedBackend(False, inner=inner, resolver=Answers(["127.0.0.1"]))) as c:
                return await c.get(url)

        with pytest.raises(httpx.ConnectError) as info:
            asyncio.run(run("http://rebind.test/rss"))
        proxied = asyncio.run(run(f"http://{PUBLIC}/rss"))
    assert "rebind.test resolves to 127.0.0.1, a loopback address" in fetch.describe_http_error(info.value, 3)
    assert inner.asked == []
    assert proxied.content == RSS and [path for path, _ in proxy.hits] == [f"http://{PUBLIC}/rss"]
