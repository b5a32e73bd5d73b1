"""Fraud as episodes: when each one starts, whose card it hits, and its payments' times (numpy + a heap).

Episodes start at random times at the profile's fraud rate (in expectation, fraud payments / all payments =
``fraud_rate``), split by the profile's mix of kinds (shares of fraud *payments*), with the reference's
four signatures:
  card_testing     a burst of 4–12 payments on one card, 5–90 s apart (minutes in all);
  odd_hours_large  one payment on a card whose holder is at local night (01:00–04:59) now (an episode
                   due when nobody is waits for the next hour when some are);
  far_from_home    one in-store payment in a city far from where the cardholder is (``simulate`` picks it);
  new_device       one payment from a device the customer never used.
What each payment looks like (amount ratio, channel, device, status …) comes from the training table's
fraud rows of the kind (``sampling.fraud``). A burst that runs past the end of a chunk is carried over.
"""

from __future__ import annotations

import heapq
import itertools
from typing import NamedTuple

import numpy as np

from paylake.generator.population import Population
from paylake.generator.profile import StreamProfile

BURST_SIZE = (4, 12)  # card testing, inclusive
BURST_GAP_S = (5, 90)
NIGHT_HOURS = np.arange(1, 5)


class Event(NamedTuple):
    t: float  # epoch seconds
    seq: int  # tie-breaker: heap order, and the payment's place in its episode's order
    customer: int  # index into the Population
    kind: str


def _count(expected: float, rng: np.random.Generator) -> int:
    """``expected`` rounded up or down at random (same mean): a Poisson count would add its own variance
    to the bursts' — a 15-minute demo's fraud rate then varied by ±0.18 pp (sd over 12 seeds), enough to
    halve the dashboard's rule precision on an unlucky run."""
    whole = int(expected)
    return whole + int(rng.random() < expected - whole)


def mean_size(kind: str) -> float:
    return (BURST_SIZE[0] + BURST_SIZE[1]) / 2 if kind == "card_testing" else 1.0


class Episodes:
    def __init__(self, profile: StreamProfile, population: Population) -> None:
        self.profile, self.population = profile, population
        self.pending: list[Event] = []
        self.counter = itertools.count()

    def plan(self, t0: float, t1: float, n_honest: int, rng: np.random.Generator) -> None:
        """Start the episodes due in [t0, t1), for ``n_honest`` honest payments in that span."""
        rate = self.profile.fraud_rate
        if rate <= 0 or t1 <= t0:
            return
        expected = n_honest * rate / (1.0 - rate)  # fraud payments that keep the share at ``rate``
        for kind, share in self.profile.fraud_mix.items():
            starts = np.sort(rng.uniform(t0, t1, _count(expected * share / mean_size(kind), rng)))
            if not len(starts):
                continue
            night = NIGHT_HOURS if kind == "odd_hours_large" else None
            if night is not None:  # waits for a local night somewhere: it is the signature
                starts = self.population.next_local(starts, night)
            victims = (self.population.pick(starts, rng, local_hours=night) if night is not None
                       else rng.integers(len(self.population), size=len(starts)))
            for start, victim in zip(starts, victims, strict=True):
                for t in self._times(kind, float(start), rng):
                    heapq.heappush(self.pending, Event(t, next(self.counter), int(victim), kind))

    def warm_up(self, t0: float, honest_rate: float, rng: np.random.Generator) -> None:
        """Plan as if the stream had been running before ``t0``: the bursts under way then go on (their
        earlier payments dropped). Without it a stream's first minutes lack the tails of earlier bursts:
        17 % fewer card-testing payments in a 16-minute demo (measured over 12 seeds)."""
        span = (BURST_SIZE[1] - 1) * BURST_GAP_S[1]  # the longest burst
        self.plan(t0 - span, t0, round(honest_rate * span), rng)
        self.pending = [e for e in self.pending if e.t >= t0]
        heapq.heapify(self.pending)

    @staticmethod
    def _times(kind: str, start: float, rng: np.random.Generator) -> list[float]:
        if kind != "card_testing":
            return [start]
        size = int(rng.integers(BURST_SIZE[0], BURST_SIZE[1] + 1))
        gaps = rng.integers(BURST_GAP_S[0], BURST_GAP_S[1] + 1, size=size - 1)
        return [start, *(start + np.cumsum(gaps)).tolist()]

    def due(self, until: float) -> list[Event]:
        """The planned payments up to ``until``, in time order (removed from the plan)."""
        out = []
        while self.pending and self.pending[0].t <= until:
            out.append(heapq.heappop(self.pending))
        return out
