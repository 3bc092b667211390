"""Parse feed bodies in worker processes, so a run uses every core while it fetches.

Parsing is CPU-bound (feedparser is pure Python) and fetching is not: parsed inside
the event loop, 1,000 feeds took 19.7 s; in two worker processes, 11.2 s (shared/bench).

A worker is a fresh interpreter (`python -c "...serve()"`), so it inherits no sockets,
locks or threads from the fetcher and never re-runs the caller's main module, as
multiprocessing's spawn would. Messages are length-prefixed pickles over its stdin and
stdout. Each worker holds one body at a time and the parent knows which, so a worker
that dies (a crash, a kill, memory) fails that one source, as does a body still parsing
after MAX_PARSE_SECONDS (its worker is killed); a new worker takes the next body.
A failure is always a value: `parse_reply` never raises for a feed, in a worker or here.
`close()` stops every worker, killing any that does not stop at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import operator
import os
import pickle
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..models import FeedSpec, ItemData, RawFeed

log = logging.getLogger("digest.sources")

MAX_PARSE_SECONDS = 60.0  # feedparser reads a 10 MB feed in a few seconds; far longer is a hostile body
START_SECONDS = 60.0  # a worker is ready in ~0.15 s; on a loaded machine it may take longer
STOP_SECONDS = 2.0  # an idle worker told to stop exits at once; after this it is killed
PIPE_BYTES = 1 << 20  # Linux's default /proc/sys/fs/pipe-max-size; a feed's reply is ~80 KB, a pipe 64 KB
_HEADER = 8  # bytes of the big-endian length before each message
_READY = b"ready"
_STOP = b""
_WORKER = "from digest.sources.pool import serve; serve()"
# A tiny feed parsed once at start: imports feedparser and nh3 and warms their caches before real work.
_WARM_UP = RawFeed(
    url="http://warm-up.invalid/feed",
    content=b'<rss version="2.0"><channel><item><title>t</title><description>&lt;p&gt;x&lt;/p&gt;'
    b"</description></item></channel></rss>",
    headers={},
)

# ("ok", title, items) | ("failed", reason) | ("bug", "Type: message", traceback text)
Reply = tuple[Any, ...]


def parse_reply(raw: RawFeed, spec: FeedSpec) -> Reply:
    """parse_feed as a value: a feed the parser rejects, or one that trips a bug in it, fails alone."""
    from .parse import parse_feed

    try:
        title, items = parse_feed(raw, spec)
    except SourceError as e:
        return ("failed", e.reason)
    except Exception as e:  # a hostile body must not sink the run; the caller logs the traceback
        return ("bug", f"{type(e).__name__}: {e}", traceback.format_exc())
    return ("ok", title, items)


# On the wire an item is the tuple of its fields: pickling a frozen slotted dataclass goes through
# dataclasses' __setstate__, and 1,000 feeds of 30 items took 0.17 s to unpickle that way, 0.06 s as
# tuples (then ItemData(*fields)); pickling them in the worker is cheaper too.
_ITEM_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(ItemData)))


def _pack(reply: Reply) -> Reply:
    if reply[0] != "ok":
        return reply
    return ("ok", reply[1], [_ITEM_FIELDS(item) for item in reply[2]])


def _unpack(reply: Reply) -> Reply:
    if reply[0] != "ok":
        return reply
    return ("ok", reply[1], [ItemData(*fields) for fields in reply[2]])


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ParsePool:
    """Up to `size` worker processes, started when the first body needs one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._unavailable = False  # a worker could not be started: the rest of the run parses here
        self.started = 0  # workers started over the pool's life (replacements included)

    async def parse(self, raw: RawFeed, spec: FeedSpec) -> Reply:
        async with self._slots:
            if self._unavailable:
                return parse_reply(raw, spec)
            try:
                worker = self._idle.pop() if self._idle else await self._start()
            except (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError) as e:
                log.warning("cannot start a parser process (%s); parsing in this one", e or type(e).__name__)
                self._unavailable = True
                return parse_reply(raw, spec)
            healthy = False
            try:
                reply = await worker.run(raw, spec)
                healthy = reply[0] != "lost"
            finally:
                if healthy:
                    self._idle.append(worker)
                else:  # it died, timed out, or the run was cancelled in the middle of its body
                    await self._discard(worker)
            return reply if healthy else ("failed", reply[1])

    async def close(self) -> None:
        """Stop every worker: idle ones are told to, any that lingers is killed."""
        for worker in list(self._all):
            await worker.stop()
            await self._discard(worker)

    async def _start(self) -> _Worker:
        package_root = str(Path(__file__).resolve().parents[2])  # this digest, even when not installed
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WORKER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
        )
        worker = _Worker(process)
        self._all.add(worker)
        self.started += 1
        try:
            async with asyncio.timeout(START_SECONDS):
                if await worker.receive() != _READY:
                    raise EOFError("the parser process did not start")
        except BaseException:
            await self._discard(worker)
            raise
        return worker

    async def _discard(self, worker: _Worker) -> None:
        self._all.discard(worker)
        await worker.kill()


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self.stdin = process.stdin
        self.stdout = process.stdout

    async def run(self, raw: RawFeed, spec: FeedSpec) -> Reply:
        """The worker's reply, or ("lost", reason) when the worker is no use any more."""
        try:
            await self.send(pickle.dumps((raw, spec), protocol=pickle.HIGHEST_PROTOCOL))
            async with asyncio.timeout(MAX_PARSE_SECONDS):
                reply: Reply = _unpack(pickle.loads(await self.receive()))
        except TimeoutError:
            return ("lost", f"parsing took longer than {MAX_PARSE_SECONDS:g} s; stopped")
        except (asyncio.IncompleteReadError, ConnectionError):
            return ("lost", f"the parser process died ({await self._exit()}) on this feed")
        return reply

    async def send(self, payload: bytes) -> None:
        self.stdin.write(len(payload).to_bytes(_HEADER, "big") + payload)
        await self.stdin.drain()

    async def receive(self) -> bytes:
        size = int.from_bytes(await self.stdout.readexactly(_HEADER), "big")
        return await self.stdout.readexactly(size)

    async def stop(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.send(_STOP)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_SECONDS):
                await self.process.wait()

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        self.stdin.close()
        await self.process.wait()

    async def _exit(self) -> str:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_SECONDS):
                await self.process.wait()
        code = self.process.returncode
        if code is None:
            return "no answer"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"


def serve() -> None:
    """A worker: parse bodies one at a time until told to stop or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    # Messages own stdout; anything else printing there (a library) goes to stderr instead.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    for pipe in (requests, replies):  # a body or reply in one go: fewer writes, reads and wake-ups
        with contextlib.suppress(OSError, AttributeError):  # not a pipe, not Linux, or over the limit
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    parse_reply(_WARM_UP, FeedSpec(url=_WARM_UP.url))

    def send(payload: bytes) -> None:
        replies.write(len(payload).to_bytes(_HEADER, "big") + payload)
        replies.flush()

    send(_READY)
    while True:
        header = requests.read(_HEADER)
        if len(header) < _HEADER:
            return  # the parent is gone
        payload = requests.read(int.from_bytes(header, "big"))
        if payload == _STOP:
            return
        raw, spec = pickle.loads(payload)
        try:
            send(pickle.dumps(_pack(parse_reply(raw, spec)), protocol=pickle.HIGHEST_PROTOCOL))
        except BrokenPipeError:
            return
