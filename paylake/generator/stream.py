"""`paylake generate`: sample ahead in a producer thread, pace, stamp times, validate and insert in batches.

A producer thread samples the model in large chunks and builds records (ids, dimension keys, location);
the calling thread takes records from it, stamps event times from the clock (live, or simulated from
``start`` running ``speedup`` times faster), injects malformed records at ``bad_rate``, and hands batches
to the Ingestor. Pacing happens only when ``rate`` is set. Ctrl-C (SIGINT) asks for a clean stop: the batch
in hand is flushed and the counts are printed; a second Ctrl-C forces the stop.
"""

from __future__ import annotations

import bisect
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import numpy as np

from paylake import indexes
from paylake.errors import ServiceError, UsageError
from paylake.generator import dimensions, ingest, model, records
from paylake.generator.ingest import Counts, Ingestor
from paylake.generator.simulate import SimOptions, Simulator
from paylake.generator.stats import StatsRecorder
from paylake.mongo import open_db
from paylake.settings import Settings

# Unpaced runs have no rate to simulate; the who-and-when structure then assumes the demo's 20 tx/s.
UNPACED_SIM_RATE = 20.0


class GeneratorError(UsageError):
    """The generator cannot run: no model, a bad argument, sampling failed."""


class GeneratorUnreachable(GeneratorError):
    """MongoDB stayed unreachable past the retry budget (exit 3: retry once it is back)."""

    exit_code = ServiceError.exit_code


def where(settings: Settings) -> str:
    url = urlparse(settings.mongo_uri)
    return f"MongoDB at {url.hostname}:{url.port or 27017}"  # never the credentials


def with_retry(call: Callable[[], Any], what: str, max_retry_s: float, echo: Callable[[str], None]) -> Any:
    """Run ``call``, retrying connection failures with exponential backoff; GeneratorUnreachable when out of
    time."""
    from pymongo.errors import ConnectionFailure

    started, attempt = time.monotonic(), 0
    while True:
        try:
            return call()
        except ConnectionFailure as exc:
            if not ingest.backoff(attempt, started, max_retry_s, what, exc, echo, base_s=0.5):
                raise GeneratorUnreachable(f"{what} unreachable for {max_retry_s:.0f}s ({type(exc).__name__}); "
                                     "is the stack up? (`paylake stack up`)") from exc
            attempt += 1


class _Producer(threading.Thread):
    """Runs the simulation ahead and builds records; ``limit`` caps how many it ever builds."""

    def __init__(self, simulator: Simulator, chunk: int, limit: int | None) -> None:
        super().__init__(name="paylake-generator-producer", daemon=True)
        self.simulator, self.chunk, self.limit = simulator, chunk, limit
        self.prefix = uuid.uuid4().hex[:12]
        self.out: queue.Queue[list[dict[str, Any]]] = queue.Queue(maxsize=3)
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        made = 0
        try:
            while not self.stop.is_set() and (self.limit is None or made < self.limit):
                frame = self.simulator.chunk(self.chunk)
                batch = records.to_records(frame, self.prefix, made)
                if self.limit is not None:
                    batch = batch[:self.limit - made]
                made += len(batch)
                while not self.stop.is_set():
                    try:
                        self.out.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which reports it
            self.error = exc


@contextmanager
def _sigint_stops(stop: threading.Event, echo: Callable[[str], None]) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM, what `make down` sends): clean stop after the batch in hand, counts printed.
    Second: KeyboardInterrupt. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_sig: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        echo("\npaylake generate: stopping — flushing the records in hand (Ctrl-C again to force)")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(settings: Settings, *, count: int | None = None, duration: float | None = None, rate: float | None = None,
        start: datetime | None = None, speedup: float = 1.0, bad_rate: float = 0.0, batch_size: int = 5000,
        seed: int | None = None, progress: bool = True, synthesizer: Any = None,
        stop: threading.Event | None = None, max_retry_s: float = 300.0,
        echo: Callable[[str], None] = ingest.stderr_line) -> Counts:
    """Generate into MongoDB until ``count`` records, ``duration`` seconds, or ``stop``; return the counts."""
    for flag, value in (("--rate", rate), ("--batch-size", batch_size), ("--speedup", speedup)):
        if value is not None and value <= 0:  # a zero batch or clock step would loop forever on empty batches
            raise GeneratorError(f"{flag} must be positive, got {value}")
    if not 0 <= bad_rate < 1:
        raise GeneratorError(f"--bad-rate must be in [0, 1), got {bad_rate}")
    stop = stop or threading.Event()
    if synthesizer is None:
        try:
            synthesizer = model.load(settings.model_file)
        except (FileNotFoundError, model.ModelFormatError) as exc:
            raise GeneratorError(str(exc)) from exc
    model.speed_up_sampling(synthesizer)
    model.one_sampling_thread()
    label = where(settings)
    with open_db(settings, 3000) as db:  # a down server fails an attempt in 3 s; with_retry retries
        dims = with_retry(lambda: dimensions.ensure_dimensions(db, settings.customers), label, max_retry_s, echo)
        with_retry(lambda: indexes.ensure(db), label, max_retry_s, echo)
        # The clock starts once the dimensions are in hand (a large population takes seconds to read).
        clock = Clock(start or datetime.now(UTC), speedup if start is not None else 1.0, paced=rate is not None)
        sim_rate = rate / clock.scale if rate is not None else UNPACED_SIM_RATE
        simulator = Simulator(synthesizer, dims, SimOptions(start=clock.base.timestamp(), rate=sim_rate),
                              np.random.default_rng(seed))
        producer = _Producer(simulator, max(batch_size, 10_000), count)
        spill = settings.state_dir / "generator" / f"failed-{producer.prefix}.jsonl"
        stats = StatsRecorder(db)
        ingestor = Ingestor(db, max_retry_s=max_retry_s, echo=echo, spill_path=spill, where=label,
                            on_ingest=stats.flush)
        # The bad records get their own stream of the seed: the producer's generator is another thread's.
        bad_rng = np.random.default_rng(None if seed is None else [seed, 1])
        producer.start()
        try:
            with _sigint_stops(stop, echo):
                _loop(producer, ingestor, stop, bad_rng, clock, count=count, duration=duration, rate=rate,
                      bad_rate=bad_rate, batch_size=batch_size, progress=progress, echo=echo)
        finally:
            producer.stop.set()
            producer.join(timeout=10)
            stats.flush(ingestor.counts, force=True)
        if producer.error is not None:
            raise GeneratorError(f"sampling failed: {producer.error!r}") from producer.error
        return ingestor.counts


class Clock:
    """The emitter's clock. Paced runs stamp each record with its simulated time and wait until the clock
    reaches it (live: the wall clock; ``--start``: start + elapsed × speedup). Unpaced runs (benchmarks,
    bulk loads) stamp the clock at emission, spreading a batch evenly, as fast as the server takes them:
    their per-customer timing is then compressed, so realism is judged on paced streams."""

    def __init__(self, base: datetime, scale: float, paced: bool) -> None:
        self.base, self.scale, self.paced = base, scale, paced
        self.wall0 = time.monotonic()

    def at(self, wall: float) -> datetime:
        return self.base + timedelta(seconds=(wall - self.wall0) * self.scale)

    def due(self, t: float) -> float:
        """The monotonic wall time at which simulated epoch second ``t`` is reached."""
        return self.wall0 + (t - self.base.timestamp()) / self.scale

    def stamp(self, batch: list[dict[str, Any]], since: float, now: float) -> None:
        span = (now - since) / max(len(batch), 1)
        for i, record in enumerate(batch):
            t = record.pop("_t")
            record["event_time"] = datetime.fromtimestamp(t, UTC) if self.paced else self.at(since + span * (i + 1))


def _take(producer: _Producer, buffer: list[dict[str, Any]], step: int, stop: threading.Event) -> bool:
    """Fill ``buffer`` up to ``step`` records; False when the producer is done and nothing is left."""
    while len(buffer) < step and producer.is_alive():
        try:
            buffer.extend(producer.out.get(timeout=0.2))
        except queue.Empty:
            if stop.is_set():
                break
    if not buffer and not producer.is_alive():
        while not producer.out.empty():
            buffer.extend(producer.out.get_nowait())
    return bool(buffer)


def _paced(batch: list[dict[str, Any]], buffer: list[dict[str, Any]], clock: Clock, stop: threading.Event,
           room: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Wait until the clock reaches the batch's last record. Behind the clock (the server took the last
    inserts slowly, e.g. beside an archive run's deletes), the records already due go in this insert too, up to
    ``room`` more, instead of one 0.5-s batch per turn while the backlog grows: each insert waits its turn
    for the server's write lock, so the stream keeps its rate only if a turn carries what has accumulated."""
    due = clock.due(batch[-1]["_t"])
    while (wait := due - time.monotonic()) > 0 and not stop.is_set():
        time.sleep(min(wait, 0.2))
    more = _already_due(buffer, clock, room)
    return batch + buffer[:more], buffer[more:]


def _already_due(buffer: list[dict[str, Any]], clock: Clock, room: int) -> int:
    """How many records at the head of ``buffer`` (in time order) the clock has reached, at most ``room``."""
    now = clock.at(time.monotonic()).timestamp()
    return bisect.bisect_right(buffer, now, hi=min(room, len(buffer)), key=lambda r: r["_t"])


def _loop(producer: _Producer, ingestor: Ingestor, stop: threading.Event, bad_rng: np.random.Generator,
          clock: Clock, *, count: int | None, duration: float | None, rate: float | None, bad_rate: float,
          batch_size: int, progress: bool, echo: Callable[[str], None]) -> None:
    counts = ingestor.counts
    wall0 = clock.wall0
    # Paced runs emit small batches (about 0.5 s of traffic) so the stream looks continuous.
    step = batch_size if rate is None else max(1, min(batch_size, int(rate * 0.5)))
    buffer: list[dict[str, Any]] = []
    last_wall, last_print = wall0, 0.0
    tty = sys.stderr.isatty()
    while not stop.is_set():
        elapsed = time.monotonic() - wall0
        if (count is not None and counts.generated >= count) or (duration is not None and elapsed >= duration):
            break
        if not _take(producer, buffer, step, stop):
            break
        left = count - counts.generated if count is not None else len(buffer)
        n = min(step, len(buffer), left)
        batch, buffer = buffer[:n], buffer[n:]
        if rate is not None:
            batch, buffer = _paced(batch, buffer, clock, stop, room=min(batch_size, left) - n)
            if duration is not None and time.monotonic() - wall0 > duration + 0.5:
                break
        now = time.monotonic()
        clock.stamp(batch, last_wall, now)
        last_wall = now
        records.inject_bad(batch, bad_rate, bad_rng)
        ingestor.ingest(batch)
        if progress and (now - last_print >= (1.0 if tty else 10.0)):
            last_print = now
            line = f"{counts.line()}  {counts.generated / max(now - wall0, 1e-9):,.0f} tx/s"
            if tty:
                sys.stderr.write("\r" + line)
                sys.stderr.flush()
            else:
                echo(line)
    if progress and tty:
        sys.stderr.write("\n")
