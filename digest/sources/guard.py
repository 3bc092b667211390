"""Which addresses a feed may reach, and a network backend that connects only to those
(its streams also answer httpcore's "is this idle connection closed?" cheaply).

The address a name resolves to is checked and then connected to by number, in one step:
a DNS server that answers a public address to a first lookup and an internal one to a
second (DNS rebinding) gains nothing, because there is no second lookup.
"""

from __future__ import annotations

import asyncio
import ipaddress
import select
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable

import httpcore

# (host, port) -> the addresses the name resolves to, in the order to try them.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """The system resolver's answer (getaddrinfo), each address once, in its order; socket.gaierror if none."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(host: str, addresses: Iterable[str]) -> str | None:
    """Why `host`, resolving to `addresses`, may not be reached; None when every address is public."""
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        kind = private_kind(address)
        if kind:
            subject = f"{host} is" if is_ip_literal(host) else f"{host} resolves to {address},"
            return f"refused: {subject} a {kind} address; set [fetch] allow_private_networks = true to allow"
    return None


def lookup_failed(host: str, error: OSError) -> str:
    return f"DNS lookup failed for {host}: {error.strerror or error}"


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def private_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, though Python 3.11 says not
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_reserved or address.is_multicast or address.is_unspecified:
        return "reserved"
    if not address.is_global:  # e.g. 100.64.0.0/10, carrier-grade NAT
        return "non-public"
    return None


class Unreachable(httpcore.ConnectError):
    """A connection the guard did not make; str() is the reason, as a person reads it."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving each host once and connecting only to checked addresses.

    With allow_private the host goes to the inner backend untouched (it resolves it itself).
    Otherwise every address the name resolves to must be public, or nothing connects; then
    the addresses are tried in order, by number. TLS is not affected: httpcore starts it with
    the request's host name as server_hostname, so SNI and the certificate check use the name.
    """

    def __init__(
        self,
        allow_private: bool,
        inner: httpcore.AsyncNetworkBackend | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()
        self._resolve = resolver if resolver is not None else resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._allow_private:
            return _Stream(
                await self._inner.connect_tcp(
                    host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            )
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"DNS lookup for {host} timed out") from None
        except OSError as e:  # socket.gaierror
            raise Unreachable(lookup_failed(host, e)) from e
        if not addresses:
            raise Unreachable(f"DNS lookup failed for {host}: no addresses")
        reason = refusal(host, addresses)
        if reason:
            raise Unreachable(reason)
        error: Exception | None = None
        for address in addresses:
            try:
                return _Stream(
                    await self._inner.connect_tcp(
                        address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                    )
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e  # e.g. an IPv6 address without an IPv6 route: the next one may answer
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Unreachable("refused: feeds are fetched over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Stream(httpcore.AsyncNetworkStream):
    """The inner backend's stream, with "is_readable" answered from its socket, found once.

    httpcore asks each idle connection whether it is readable (closed by the server) every
    time its pool hands out a request; anyio answers by building a dict of every socket
    attribute, getpeername() included: ~10% of the fetching process's CPU for 1,000 feeds.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> object:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket) -> bool:
    # What httpcore's is_socket_readable does on Linux and macOS: a closed socket counts as readable.
    fd = sock.fileno()
    if fd < 0 or not hasattr(select, "poll"):
        return fd < 0 or bool(select.select([fd], [], [], 0)[0])
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(0))
