"""Parse feed bodies in worker processes, so a run uses every core while it fetches.

Parsing is CPU-bound (feedparser is pure Python) and fetching is not: parsed inside
the event loop, 1,000 feeds took 19.7 s; in two worker processes, 11.2 s (shared/bench).

A worker is a fresh interpreter (`python -c "...serve()"`), so it inherits no sockets,
locks or threads from the fetcher and never re-runs the caller's main module, as
multiprocessing's spawn would. Messages are length-prefixed pickles over its stdin and
stdout. A worker is sent up to DEPTH bodies and answers them in order, so the parent
knows which one it is parsing (the oldest unanswered): a worker that dies (a crash, a
kill, memory) fails that one source, as does a body still parsing MAX_PARSE_SECONDS
after it reached the front (its worker is killed); the bodies queued behind it, and
the next ones, go to a new worker.
A failure is always a value: `parse_reply` never raises for a feed, in a worker or here.
`close()` stops every worker, killing any still busy or that does not stop at once.
"""

from __future__ import annotations

import asyncio
import collections
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
# Bodies sent to a worker at once: while it parses one the others wait in its pipe, so it goes on
# while this process is busy (storing a batch of results takes ~40 ms, four bodies' parsing).
# 1,000 feeds: with one at a time each worker waited 1.6 s of a 7.5 s run for its next body, with
# two 1.1 s, with four 0.6 s (mostly before the first body); eight gained nothing more.
DEPTH = 4
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
    """Up to `size` worker processes, started as bodies need them, each sent up to DEPTH bodies at once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = asyncio.Semaphore(size * DEPTH)
        self._workers: list[_Worker] = []
        self._spawning = 0  # processes being created, counted against size
        self._unavailable = False  # a worker could not be started: the rest of the run parses here

    async def parse(self, raw: RawFeed, spec: FeedSpec) -> Reply:
        async with self._slots:
            payload = pickle.dumps((raw, spec), protocol=pickle.HIGHEST_PROTOCOL)
            while not self._unavailable:
                try:
                    worker = await self._pick()
                except OSError as e:
                    self._give_up(e)
                    break
                reply = await worker.parse(payload)
                if reply[0] == _AGAIN:  # its worker was lost over an earlier body: this one was not the cause
                    continue
                if reply[0] == _UNSTARTED:
                    self._give_up(reply[1])
                    break
                return ("failed", reply[1]) if reply[0] == _LOST else reply
            return parse_reply(raw, spec)

    async def close(self) -> None:
        """Stop every worker: idle ones are told to, busy ones (the run is over) are killed at once."""
        workers, self._workers = self._workers, []
        await asyncio.gather(*(worker.close() for worker in workers))

    async def _pick(self) -> _Worker:
        """An idle worker, else a new one while there may be more, else the least busy."""
        live = self._workers = [w for w in self._workers if w.alive]  # a lost worker has killed itself
        idle = [w for w in live if not w.pending]
        if idle:
            return idle[0]
        if len(live) + self._spawning < self.size:
            return await self._start()
        worker = min(live, key=lambda w: len(w.pending), default=None)
        if worker is None or len(worker.pending) >= DEPTH:  # only while a replacement is being spawned
            await asyncio.sleep(0.01)
            return await self._pick()
        return worker

    async def _start(self) -> _Worker:
        package_root = str(Path(__file__).resolve().parents[2])  # this digest, even when not installed
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self._spawning += 1
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _WORKER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env
            )
        finally:
            self._spawning -= 1
        worker = _Worker(process)
        self._workers.append(worker)
        return worker

    def _give_up(self, reason: object) -> None:
        if not self._unavailable:
            log.warning("cannot start a parser process (%s); parsing in this one", reason or "no reason given")
        self._unavailable = True


# What a body's future holds besides a Reply: the worker was lost on it (its feed fails), on an
# earlier body (send it again), or never started (parse here).
_LOST, _AGAIN, _UNSTARTED = "lost", "again", "unstarted"


class _Worker:
    """One worker process and the bodies sent to it, answered in the order sent.

    A reader task takes each reply and gives it to the oldest body's future. The oldest body
    is the one being parsed, so its clock (MAX_PARSE_SECONDS) starts when the reply before
    it came. When the worker dies or runs out of time, the oldest body gets the blame and
    the bodies queued behind it are sent again by the pool.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self.stdin = process.stdin
        self.stdout = process.stdout
        self.pending: collections.deque[asyncio.Future[Reply]] = collections.deque()
        self.alive = True
        self._queued = asyncio.Event()  # set while pending is not empty
        self._head_since = 0.0  # loop time at which the oldest pending body reached the front
        self._reader = asyncio.create_task(self._read())

    async def parse(self, payload: bytes) -> Reply:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        if not self.pending:
            self._head_since = loop.time()
        self.pending.append(future)
        self._queued.set()
        with contextlib.suppress(ConnectionError):  # it died: the reader gives the future its answer
            await self.send(payload)
        return await future  # cancelled (the run is over): the reply, when it comes, is dropped

    async def send(self, payload: bytes) -> None:
        self.stdin.write(len(payload).to_bytes(_HEADER, "big") + payload)
        await self.stdin.drain()

    async def receive(self) -> bytes:
        size = int.from_bytes(await self.stdout.readexactly(_HEADER), "big")
        return await self.stdout.readexactly(size)

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(START_SECONDS):
                if await self.receive() != _READY:
                    raise EOFError("the parser process did not start")
        except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError) as e:
            unstarted = (_UNSTARTED, str(e) or type(e).__name__)
            await self._lose(unstarted, unstarted)
            return
        self._head_since = max(self._head_since, loop.time())  # its start-up is not parsing time
        while True:
            await self._queued.wait()
            try:
                async with asyncio.timeout_at(self._head_since + MAX_PARSE_SECONDS):
                    reply: Reply = _unpack(pickle.loads(await self.receive()))
            except TimeoutError:
                await self._lose((_LOST, f"parsing took longer than {MAX_PARSE_SECONDS:g} s; stopped"), (_AGAIN,))
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                await self._lose((_LOST, f"the parser process died ({await self._exit()}) on this feed"), (_AGAIN,))
                return
            future = self.pending.popleft()
            if not future.done():
                future.set_result(reply)
            self._head_since = loop.time()
            if not self.pending:
                self._queued.clear()

    async def _lose(self, head: Reply, rest: Reply) -> None:
        """The worker is no use any more: answer every pending body (the oldest `head`) and kill it."""
        self.alive = False
        for i, future in enumerate(self.pending):
            if not future.done():
                future.set_result(head if i == 0 else rest)
        self.pending.clear()
        await self._kill()

    async def close(self) -> None:
        self.alive = False
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        if not self.pending and self.process.returncode is None:
            with contextlib.suppress(ConnectionError):
                await self.send(_STOP)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_SECONDS):
                    await self.process.wait()
        for future in self.pending:
            future.cancel()  # their tasks were cancelled before the pool was closed
        self.pending.clear()
        await self._kill()

    async def _kill(self) -> None:
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
