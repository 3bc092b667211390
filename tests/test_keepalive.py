"""Keep-alive: feeds on one host share a connection, and one the server closed is not reused.

Real sockets and a real HTTP server on 127.0.0.1; nothing of ours is replaced.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

from digest.config import FetchSettings
from digest.models import FeedSpec, RawFeed
from digest.sources.fetch import _Slots, fetch_all
from digest.sources.guard import GuardedBackend
from tests.feedserver import GOOD_RSS
from tests.http_server import Response, http_server


def test_feeds_on_one_host_are_fetched_over_one_kept_alive_connection() -> None:
    ports: list[int] = []

    def feed(handler: BaseHTTPRequestHandler) -> Response:
        ports.append(handler.client_address[1])
        return Response(body=GOOD_RSS)

    with http_server() as site:
        for i in range(6):
            site.add(f"/f{i}.xml", feed)
        specs = [FeedSpec(url=f"{site.base}/f{i}.xml") for i in range(6)]
        outcomes = fetch_all(specs, FetchSettings(allow_private_networks=True, per_host_concurrency=1), {})
    assert all(isinstance(o, RawFeed) for o in outcomes)
    assert len(ports) == 6 and len(set(ports)) == 1  # one connection, from one client port


def test_a_host_gets_back_the_client_that_served_it_last_while_it_is_free() -> None:
    async def check() -> list[object]:
        first, second, third = (object() for _ in range(3))
        slots = _Slots([first, second, third])  # type: ignore[list-item]  # clients stand in as tokens
        a = await slots.take("a.example")
        b = await slots.take("b.example")
        slots.give_back(a, "a.example")
        slots.give_back(b, "b.example")  # handed out next to a host with no client of its own
        again_a = await slots.take("a.example")
        new_host = await slots.take("c.example")
        return [a, b, again_a, new_host]

    a, b, again_a, new_host = asyncio.run(check())
    assert again_a is a  # the slot given back last was b's
    assert new_host is b


def test_a_kept_alive_connection_reports_readable_once_the_server_has_closed_it() -> None:
    # httpcore asks this before reusing an idle connection; answered wrongly, a closed
    # connection would be reused (and the request fail) or every connection thrown away.
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
    thread.start()

    async def check() -> tuple[bool, bool]:
        backend = GuardedBackend(allow_private=True)
        stream = await backend.connect_tcp("127.0.0.1", listener.getsockname()[1], timeout=5)
        thread.join(5)
        idle = stream.get_extra_info("is_readable")
        accepted[0].close()  # the server ends the idle connection
        deadline = time.monotonic() + 5
        while not (closed := stream.get_extra_info("is_readable")) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await stream.aclose()
        return idle, closed

    try:
        idle, closed = asyncio.run(check())
    finally:
        listener.close()
    assert idle is False
    assert closed is True
