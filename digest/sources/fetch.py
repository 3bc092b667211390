"""Fetch feeds over HTTP (the only httpx importer): conditional GET, deadlines, a size cap.

Every failure becomes a FetchError with a short human reason; one bad feed never
touches another. Redirects are followed by hand so each hop's address is checked, and every
connection goes only to an address that passed the check (guard.GuardedBackend).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import ssl
import urllib.request
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from .. import __version__
from ..config import FetchSettings
from ..errors import FetchError
from ..models import FeedSpec, RawFeed
from .guard import GuardedBackend, Unreachable, lookup_failed, refusal, resolve

USER_AGENT = f"digest/{__version__} (+https://github.com/digest-news/digest)"
MAX_REDIRECTS = 5
# One httpx pool turns CPU-bound past ~32 connections (shared/bench, httpx #3215): each time a request
# starts or ends, httpcore's pool checks every connection and, for each idle one, counts the idle ones
# again. Several small pools do not. 1,000 feeds at 50 ms, 64 at once, CPU of the fetching process:
# 16 per client 1.6 s (older code), 8 per client 1.78 s, 4 per client 1.70 s, 2 per client 1.65 s.
CONNECTIONS_PER_CLIENT = 2
ACCEPT = "application/atom+xml, application/rss+xml, application/feed+json, application/xml;q=0.9, */*;q=0.5"


@dataclass(frozen=True, slots=True)
class NotModified:
    url: str
    etag: str | None
    last_modified: str | None
    moved: bool = False


FetchOutcome = RawFeed | NotModified | FetchError


Progress = Callable[[int, int], None]  # (done, total)


def fetch_all(
    specs: Sequence[FeedSpec],
    settings: FetchSettings,
    validators: Mapping[str, tuple[str | None, str | None]],
    progress: Progress | None = None,
) -> list[FetchOutcome]:
    """Fetch every feed concurrently; results in input order, failures as FetchError values.

    A feed not fetched when `settings.run_deadline_seconds` have passed fails with that reason.
    """
    outcomes: list[FetchOutcome | None] = [None] * len(specs)

    def keep(index: int, outcome: FetchOutcome) -> None:
        outcomes[index] = outcome

    async def run() -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.run_deadline_seconds):
                await fetch_each(specs, settings, validators, keep, progress)

    asyncio.run(run())
    return [
        o if o is not None else FetchError(s.url, deadline_reason(settings))
        for s, o in zip(specs, outcomes, strict=True)
    ]


def deadline_reason(settings: FetchSettings) -> str:
    return f"run deadline of {settings.run_deadline_seconds:g} s reached"


async def fetch_each(
    specs: Sequence[FeedSpec],
    settings: FetchSettings,
    validators: Mapping[str, tuple[str | None, str | None]],
    on_outcome: Callable[[int, FetchOutcome], None],
    progress: Progress | None = None,
    room: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Fetch every feed concurrently, handing on_outcome(index, outcome) each one as it arrives.

    At most `settings.concurrency` requests at once, and `settings.per_host_concurrency` per host.
    The connections are spread over several keep-alive clients of CONNECTIONS_PER_CLIENT each.
    With `room`, each request first awaits it: the consumer's back-pressure.
    """
    count = max(1, -(-settings.concurrency // CONNECTIONS_PER_CLIENT))
    sizes = [len(range(i, settings.concurrency, count)) for i in range(count)]
    timeout = httpx.Timeout(settings.timeout_seconds)
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    tls = httpx.create_ssl_context()  # one for all clients: loading the CA bundle is not free
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                guarded_client(
                    settings.allow_private_networks,
                    timeout=timeout,
                    limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                    headers=headers,
                    tls=tls,
                )
            )
            for size in sizes
        ]
        slots = _Slots([client for client, size in zip(clients, sizes, strict=True) for _ in range(size)])
        per_host: dict[str, asyncio.Semaphore] = {}
        done = 0

        async def one(index: int, spec: FeedSpec) -> None:
            nonlocal done
            etag, modified = validators.get(spec.url, (None, None))
            key = _host_key(spec.url)
            host = per_host.setdefault(key, asyncio.Semaphore(settings.per_host_concurrency))
            # The host slot first: a task waiting on a busy host must not hold one of the global slots.
            async with host:
                client = await slots.take(key)
                try:
                    if room is not None:  # holding the slot: no request starts while there is none
                        await room()
                    outcome: FetchOutcome = await fetch_feed(client, spec, settings, etag, modified)
                except FetchError as e:
                    outcome = e
                finally:
                    slots.give_back(client, key)
            done += 1
            if progress is not None:
                progress(done, len(specs))
            on_outcome(index, outcome)

        await asyncio.gather(*(one(i, s) for i, s in enumerate(specs)))


class _Slots:
    """Free connection slots, each a client with a connection to spare: taking one bounds the whole run.

    A host's next request goes to the client that served it last when that one has a slot free,
    so feeds on one host reuse its kept-alive connection; otherwise to the slot given back last.
    """

    def __init__(self, slots: Sequence[httpx.AsyncClient]) -> None:
        self._free = list(slots)
        self._count = asyncio.Semaphore(len(slots))
        self._last: dict[str, httpx.AsyncClient] = {}  # host -> the client that fetched from it last

    async def take(self, host: str) -> httpx.AsyncClient:
        await self._count.acquire()
        warm = self._last.get(host)
        if warm is not None and warm in self._free:
            self._free.remove(warm)
            return warm
        return self._free.pop()

    def give_back(self, client: httpx.AsyncClient, host: str) -> None:
        self._last[host] = client
        self._free.append(client)
        self._count.release()


def guarded_client(
    allow_private: bool,
    *,
    timeout: httpx.Timeout,
    limits: httpx.Limits,
    headers: Mapping[str, str],
    tls: ssl.SSLContext | None = None,
    backend: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """An httpx client whose direct connections go through GuardedBackend (or `backend`, for tests).

    Proxies from the environment are kept as httpx would set them up (a given transport turns
    httpx's own lookup off): a proxied request connects to the proxy, which resolves the name itself.
    """
    tls = tls if tls is not None else httpx.create_ssl_context()
    transport = _GuardedTransport(limits, tls, backend if backend is not None else GuardedBackend(allow_private))
    return httpx.AsyncClient(
        timeout=timeout, headers=headers, transport=transport, mounts=_environment_proxies(limits, tls)
    )


class _GuardedTransport(httpx.AsyncBaseTransport):
    """httpx.AsyncHTTPTransport's work over an httpcore pool with our network backend.

    httpx (0.27, 0.28) takes no network backend, so this maps requests, responses and
    httpcore's errors the way its own transport does, through public APIs only.
    """

    def __init__(self, limits: httpx.Limits, tls: ssl.SSLContext, backend: httpcore.AsyncNetworkBackend) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        with _httpx_errors():
            await self._pool.__aexit__(exc_type, exc_value, traceback)

    async def aclose(self) -> None:
        await self._pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


# httpcore's errors and httpx's, most specific first (the mapping httpx's own transport makes).
_HTTPX_ERRORS: list[tuple[type[Exception], type[httpx.HTTPError]]] = [
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
]


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as e:
        for core, mapped in _HTTPX_ERRORS:
            if isinstance(e, core):
                raise mapped(str(e)) from e
        raise


def _environment_proxies(limits: httpx.Limits, tls: ssl.SSLContext) -> dict[str, httpx.AsyncBaseTransport | None]:
    """HTTP(S)_PROXY, ALL_PROXY and NO_PROXY as httpx reads them when it builds its own transport.

    A NO_PROXY host maps to None: the client's own (guarded) transport.
    """
    found = urllib.request.getproxies()
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme):
            proxy = found[scheme] if "://" in found[scheme] else f"http://{found[scheme]}"
            mounts[f"{scheme}://"] = httpx.AsyncHTTPTransport(verify=tls, limits=limits, proxy=proxy)
    for host in (h.strip() for h in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _is_ip(host.split("/", 1)[0]) or host.lower() == "localhost":
            mounts[f"all://[{host}]" if ":" in host else f"all://{host}"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host_key(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # an unparseable URL fails in fetch_feed, with its reason
        return ""


async def fetch_feed(
    client: httpx.AsyncClient,
    spec: FeedSpec,
    settings: FetchSettings,
    etag: str | None = None,
    last_modified: str | None = None,
) -> RawFeed | NotModified:
    """One feed within its deadline; raises FetchError with the reason."""
    try:
        async with asyncio.timeout(settings.timeout_seconds):
            return await _fetch(client, spec.url, settings, etag, last_modified)
    except TimeoutError:
        raise FetchError(spec.url, f"timed out after {settings.timeout_seconds:g} s") from None
    except httpx.HTTPError as e:
        raise FetchError(spec.url, describe_http_error(e, settings.timeout_seconds)) from e
    except (httpx.InvalidURL, ValueError) as e:  # urlsplit, IDNA or httpx refusing the URL or a Location
        raise FetchError(spec.url, f"invalid URL: {e}") from e


async def _fetch(
    client: httpx.AsyncClient, url: str, settings: FetchSettings, etag: str | None, last_modified: str | None
) -> RawFeed | NotModified:
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    permanent = None  # becomes False at the first temporary redirect
    for _ in range(MAX_REDIRECTS + 1):
        await check_address(url, settings.allow_private_networks)
        async with client.stream("GET", url, headers=headers) as response:
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                permanent = permanent is not False and response.status_code in (301, 308)
                continue
            if response.status_code == 304:
                return NotModified(url=url, etag=etag, last_modified=last_modified, moved=bool(permanent))
            if response.status_code == 410:
                raise FetchError(url, "HTTP 410 Gone: the feed was removed; not fetched again", gone=True)
            if response.status_code >= 400:
                reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                wait = retry_after(response.headers.get("retry-after"))
                if wait is not None and response.status_code in (429, 503):
                    reason += f"; asked to wait {wait:.0f} s"
                raise FetchError(url, reason, retry_after=wait if response.status_code in (429, 503) else None)
            _check_declared_size(response, url, settings.max_bytes)
            body = await _read_capped(response, url, settings.max_bytes)
            return RawFeed(
                url=url,
                content=body,
                headers=dict(response.headers),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                moved=bool(permanent),
            )
    raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")


def _check_declared_size(response: httpx.Response, url: str, max_bytes: int) -> None:
    # A declared length over the cap fails before any byte is read. It counts the compressed
    # body, so it can only refuse early; _read_capped still counts what decompression yields.
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(url, f"response larger than {max_bytes} bytes (it declares {declared})")


async def _read_capped(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    """The body, decompressed, never more than max_bytes held in memory."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(url, f"response larger than {max_bytes} bytes; cut off")
        chunks.append(chunk)
    return b"".join(chunks)


async def check_address(url: str, allow_private: bool) -> None:
    """Refuse non-http(s) URLs, and hosts on private, loopback or link-local addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(url, f"refused: only http and https URLs are fetched, not {parts.scheme or 'none'!r}")
    if allow_private:
        return
    host = parts.hostname
    # The early, readable refusal, naming this hop's URL; it also covers a request sent through
    # a proxy, which resolves the name itself. A direct connection is checked again where it is
    # made (guard.GuardedBackend), against the address it connects to: a second DNS answer
    # (rebinding) cannot slip past this one.
    try:
        addresses = await resolve(host, parts.port or 80)
    except OSError as e:  # socket.gaierror
        raise FetchError(url, lookup_failed(host, e)) from e
    reason = refusal(host, addresses)
    if reason:
        raise FetchError(url, reason)


def describe_http_error(error: httpx.HTTPError, timeout: float) -> str:
    """A short reason a person can act on, for the run summary."""
    if isinstance(error, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    if isinstance(error, httpx.ConnectError):
        for cause in _causes(error):
            if isinstance(cause, Unreachable):  # the guard's refusal, already in words
                return str(cause)
        if any(isinstance(e, ConnectionRefusedError) for e in _causes(error)):
            return "connection refused"
        text = str(error).lower()
        if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
            return "DNS lookup failed"
        return f"cannot connect: {error}"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"broken response: {error}"
    if isinstance(error, httpx.DecodingError):
        return f"cannot decode the response body: {error}"
    return f"{type(error).__name__}: {error}"


def _causes(error: BaseException) -> list[BaseException]:
    """The chain of causes below an exception (anyio hides the real one a few levels down)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped at a week."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), 7 * 86400)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), 7 * 86400)
