"""The generator's simulation: who pays when (local hours), where (no teleporting cards), and fraud episodes
with the reference's signatures at the profile's rate. Structural properties only (pure: no servers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from generator_support import START, ReplaySynthesizer, simulate_stream

from paylake.generator import dimensions, geo, model, realism, records, sampling
from paylake.generator import profile as profiles
from paylake.generator.episodes import BURST_GAP_S, BURST_SIZE, NIGHT_HOURS, Episodes
from paylake.generator.population import TRAVEL_KMH, Population
from paylake.generator.simulate import FAR_KM, SimOptions, Simulator

CUSTOMERS = 20_000  # a realistic density: 1 payment per simulated second is ~4 a day per customer
FRAUD_TOLERANCE = 0.003  # absolute, on ~88,000 rows (fraud comes in bursts: its count varies more than a binomial)


@pytest.fixture(scope="module")
def population() -> Population:
    return Population(dimensions.build_dimensions(customers=CUSTOMERS).customers, profiles.DEFAULT_HOURS)


@pytest.fixture(scope="module")
def day() -> tuple[Simulator, pd.DataFrame]:
    """A simulated day at 1 payment per second over 20,000 customers, with each row's fraud_type."""
    return simulate_stream(ReplaySynthesizer(20_000, seed=21), CUSTOMERS, rate=1.0, hours=24.0)


def _home(sim: Simulator, frame: pd.DataFrame) -> np.ndarray:
    index = {c: i for i, c in enumerate(sim.population.ids)}
    return frame["customer_id"].map(index).to_numpy()


def _hours_from_night(local: np.ndarray) -> np.ndarray:
    """How many hours on the 24-hour clock each local hour is from the night window (01–04)."""
    return np.asarray(np.min(np.abs((local[:, None] - NIGHT_HOURS[None, :] + 12) % 24 - 12), axis=1))


def _utc_hours(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(frame["event_time"].dt.hour.to_numpy(), dtype=int)


# --- who pays when -------------------------------------------------------------------------------------


def test_pick_weighs_each_time_zone_by_activity_and_its_local_hour(population: Population) -> None:
    """At one UTC hour, a time zone's payers per unit of activity follow the profile at its local hour."""
    rng = np.random.default_rng(0)
    hours = population.hours
    for utc in (3, 13, 20):
        t = START + utc * 3600 + rng.uniform(0, 3600, 100_000)
        tz = geo.utc_offset_h(population.home_lon[population.pick(t, rng)])
        for z, activity in zip(population.tz_values, population.group_activity, strict=True):
            expected = activity * hours[(utc + z) % 24] / np.sum(population.group_activity *
                                                                  hours[(utc + population.tz_values) % 24])
            if expected > 0.05:  # enough payers to compare
                assert np.mean(tz == z) == pytest.approx(expected, rel=0.1), (utc, z)


def test_payments_follow_the_local_hour_profile_over_a_day(population: Population) -> None:
    rng = np.random.default_rng(1)
    t = START + rng.uniform(0, 86_400, 200_000)
    local = geo.local_hour((t // 3600 % 24).astype(int), population.home_lon[population.pick(t, rng)])
    share = np.bincount(local, minlength=24) / len(local)
    profile = np.asarray(profiles.DEFAULT_HOURS) / np.sum(profiles.DEFAULT_HOURS)
    night, lunch = share[2:5].sum(), share[12:15].sum()
    expected = profile[2:5].sum() / profile[12:15].sum()  # 0.06
    # A constant global rate makes someone pay at every UTC hour, so in this world of 21 cities (no time
    # zone is at lunch when Europe sleeps) the night share comes out somewhat above the profile (0.09).
    assert 0.8 * expected < night / lunch < 1.6 * expected
    assert np.corrcoef(share, profile)[0, 1] > 0.95


def test_pick_at_local_night_picks_customers_at_local_night(population: Population) -> None:
    rng = np.random.default_rng(2)
    t = START + rng.uniform(0, 86_400, 20_000)
    utc = (t // 3600 % 24).astype(int)
    local = geo.local_hour(utc, population.home_lon[population.pick(t, rng, local_hours=NIGHT_HOURS)])
    someone = np.isin((utc[:, None] + population.tz_values[None, :]) % 24, NIGHT_HOURS).any(axis=1)
    assert np.isin(local[someone], NIGHT_HOURS).all()
    # when no time zone is at night, the nearest hours on the clock (around midnight or dawn), not midday
    assert (~someone).mean() > 0.2  # in this world of 21 cities, a third of the UTC hours
    assert (_hours_from_night(local[~someone]) <= 3).all()
    assert (_hours_from_night(local[~someone]) <= 2).mean() > 0.8


# --- where: no teleporting cards ---------------------------------------------------------------------------


def test_move_never_travels_faster_than_an_airliner(monkeypatch: pytest.MonkeyPatch) -> None:
    from paylake.generator import population as population_module

    monkeypatch.setattr(population_module, "TRIP_P", 0.3)  # many trips, so that many moves are checked
    pop = Population(dimensions.build_dimensions(customers=300).customers, profiles.DEFAULT_HOURS)
    rng = np.random.default_rng(3)
    now, moves = START, 0
    for span_h in rng.choice([0.2, 1.0, 3.0, 12.0], size=120):
        t = np.sort(now + rng.uniform(0, span_h * 3600, 200))
        now = float(t[-1])
        idx = rng.integers(len(pop), size=len(t))
        lat, lon, last = pop.lat.copy(), pop.lon.copy(), pop.last_t.copy()
        pop.move(idx, t, rng)
        payers, first = np.unique(idx, return_index=True)
        moved = (pop.lat[payers] != lat[payers]) | (pop.lon[payers] != lon[payers])
        km = geo.haversine_km(lat[payers], lon[payers], pop.lat[payers], pop.lon[payers])
        hours = (t[first] - last[payers]) / 3600
        assert (km[moved] <= TRAVEL_KMH * hours[moved] + 1e-6).all()
        assert (pop.lat[~np.isin(np.arange(len(pop)), payers)] == lat[~np.isin(np.arange(len(pop)), payers)]).all()
        assert (pop.last_t[payers] == [t[idx == c].max() for c in payers]).all()
        moves += int(moved.sum())
    assert moves > 100
    assert (pop.city != pop.home_city).any() and (pop.city == pop.home_city).any()


# --- fraud episodes ----------------------------------------------------------------------------------------


def test_episodes_plan_card_testing_bursts_within_minutes(population: Population) -> None:
    profile = profiles.StreamProfile(fraud_rate=0.015)
    episodes = Episodes(profile, population)
    rng = np.random.default_rng(4)
    episodes.plan(START, START + 86_400, 200_000, rng)
    events = pd.DataFrame(episodes.due(float("inf")))
    assert episodes.due(float("inf")) == [] and events["t"].is_monotonic_increasing
    expected = 200_000 * 0.015 / 0.985
    assert abs(len(events) - expected) < 0.1 * expected
    shares = events["kind"].value_counts(normalize=True)
    for kind, share in profile.fraud_mix.items():
        assert shares[kind] == pytest.approx(share, abs=0.05), kind
    # one burst = consecutive plan order (seq) on one card
    testing = events[events["kind"] == "card_testing"].sort_values("seq")
    burst = ((testing["customer"] != testing["customer"].shift()) | (testing["seq"].diff() != 1)).cumsum()
    bursts = testing.groupby(burst)["t"].agg(["count", "min", "max"])
    assert len(bursts) > 50
    assert bursts["count"].between(*BURST_SIZE).all()
    assert ((bursts["max"] - bursts["min"]) <= (BURST_SIZE[1] - 1) * BURST_GAP_S[1]).all()  # minutes, not hours
    gaps = testing.groupby(burst)["t"].diff().dropna()
    assert gaps.between(*BURST_GAP_S).all()


def test_due_hands_out_what_is_due_and_keeps_the_rest(population: Population) -> None:
    episodes = Episodes(profiles.StreamProfile(fraud_rate=0.05), population)
    episodes.plan(START, START + 3600, 20_000, np.random.default_rng(5))
    first = episodes.due(START + 1800)
    rest = episodes.due(START + 7200)
    assert first and rest and max(e.t for e in first) <= START + 1800 < min(e.t for e in rest)
    assert episodes.due(START + 10**6) == []


def test_a_stream_starts_with_the_bursts_already_under_way(population: Population) -> None:
    """Without warm_up the first minutes lack the tails of earlier bursts (about half the card testing)."""
    profile = profiles.StreamProfile(fraud_rate=0.5, fraud_mix={"card_testing": 1.0})
    episodes, rng = Episodes(profile, population), np.random.default_rng(6)
    episodes.warm_up(START, 20.0, rng)
    episodes.plan(START, START + 3600, 72_000, rng)
    t = np.array([e.t for e in episodes.due(float("inf"))])
    assert t.min() >= START
    first, later = (t < START + 600).sum(), ((t >= START + 1800) & (t < START + 2400)).sum()
    assert first == pytest.approx(later, rel=0.1)


# --- the simulated stream ----------------------------------------------------------------------------------


def test_the_stream_keeps_the_profiles_fraud_rate_and_mix(day: tuple[Simulator, pd.DataFrame]) -> None:
    sim, frame = day
    assert len(frame) > 86_000 and frame["t"].is_monotonic_increasing
    assert frame["is_fraud"].mean() == pytest.approx(sim.profile.fraud_rate, abs=FRAUD_TOLERANCE)
    assert (frame["is_fraud"] == (frame["fraud_type"] != profiles.HONEST)).all()
    shares = frame.loc[frame["is_fraud"], "fraud_type"].value_counts(normalize=True)
    for kind, share in sim.profile.fraud_mix.items():
        assert shares[kind] == pytest.approx(share, abs=0.08), kind


def test_honest_cards_never_teleport(day: tuple[Simulator, pd.DataFrame]) -> None:
    _, frame = day
    assert len(realism.honest_pairs(frame)) > 50_000
    assert realism.impossible_travel_share(frame) <= 0.001


def test_bursts_are_fraud(day: tuple[Simulator, pd.DataFrame]) -> None:
    _, frame = day
    burst = realism.in_bursts(frame)
    assert realism.honest_burst_share(frame) <= 0.001
    testing = (frame["fraud_type"] == "card_testing").to_numpy()
    assert burst[testing].mean() > 0.2  # the 6th and later payments of a 4–12 burst
    assert not burst[frame["is_fraud"].to_numpy() & ~testing].any()


def test_honest_payments_at_local_hours_like_the_profile(day: tuple[Simulator, pd.DataFrame]) -> None:
    sim, frame = day
    honest = frame[~frame["is_fraud"]]
    local = geo.local_hour(_utc_hours(honest), sim.population.home_lon[_home(sim, honest)])
    share = np.bincount(local, minlength=24) / len(local)
    assert share[2:5].sum() < share[12:15].sum() / 8
    assert np.corrcoef(share, sim.population.hours)[0, 1] > 0.95


def test_odd_hours_fraud_at_the_victims_local_night(day: tuple[Simulator, pd.DataFrame]) -> None:
    sim, frame = day
    odd = frame[frame["fraud_type"] == "odd_hours_large"]
    assert len(odd) > 100
    local = geo.local_hour(_utc_hours(odd), sim.population.home_lon[_home(sim, odd)])
    tz = sim.population.tz_values
    anyone = np.isin((_utc_hours(odd)[:, None] + tz[None, :]) % 24, NIGHT_HOURS).any(axis=1)
    assert np.isin(local[anyone], NIGHT_HOURS).all()  # whenever some time zone is at night, a victim there
    assert (_hours_from_night(local) <= 3).all()  # else the nearest hours: around midnight or dawn
    assert np.isin(local, NIGHT_HOURS).mean() > 0.5  # two thirds of the UTC hours have a time zone at night
    # the row's own position tells the same where the fraudster's device is near the victim
    near = (odd["distance_km"] < 100).to_numpy()
    assert near.mean() > 0.5
    row_local = realism.local_hours(odd[near & anyone])
    assert np.isin(row_local, NIGHT_HOURS).mean() > 0.95
    assert odd["amount_ratio"].median() > 5  # large: the reference's 8× the median


def test_far_from_home_fraud_pays_in_store_far_away(day: tuple[Simulator, pd.DataFrame]) -> None:
    sim, frame = day
    far = frame[frame["fraud_type"] == "far_from_home"]
    assert len(far) > 100 and (far["channel"] == "in_store").all()
    who = _home(sim, far)
    km = geo.haversine_km(sim.population.home_lat[who], sim.population.home_lon[who],
                          far["latitude"].to_numpy(float), far["longitude"].to_numpy(float))
    # Measured from where the cardholder is: a cardholder away on a trip may have it nearer home.
    honest = frame[~frame["is_fraud"]]
    hw = _home(sim, honest)
    away_km = geo.haversine_km(sim.population.home_lat[hw], sim.population.home_lon[hw],
                               honest["latitude"].to_numpy(float), honest["longitude"].to_numpy(float))
    travellers = set(honest["customer_id"][away_km > 200])
    stayed = ~far["customer_id"].isin(travellers).to_numpy()
    assert stayed.mean() > 0.9 and (km[stayed] >= FAR_KM).all()
    assert np.median(km) > 3 * FAR_KM
    merchants = {m["_id"]: m["city"] for m in dimensions.build_dimensions().merchants}
    homes = {c["_id"]: c["home_city"] for c in dimensions.build_dimensions(customers=CUSTOMERS).customers}
    assert (far["merchant_id"].map(merchants) != far["customer_id"].map(homes)).all()


def test_honest_in_store_payments_are_where_the_customer_is(day: tuple[Simulator, pd.DataFrame]) -> None:
    sim, frame = day
    shop = frame[~frame["is_fraud"] & (frame["channel"] == "in_store")]
    who = _home(sim, shop)
    km = geo.haversine_km(sim.population.home_lat[who], sim.population.home_lon[who],
                          shop["latitude"].to_numpy(float), shop["longitude"].to_numpy(float))
    assert np.mean(km < 100) > 0.97  # at home, but for the few customers away on a trip


# --- a user's own table ------------------------------------------------------------------------------------


def test_a_user_table_without_kinds_categories_or_times_trains_and_samples() -> None:
    """`paylake train --csv --map`: a table with amount, fraud flag, payment method and channel only."""
    rng = np.random.default_rng(6)
    n = 400
    table = pd.DataFrame({"amt": np.round(rng.lognormal(3.5, 0.8, n), 2), "fraud": (rng.random(n) < 0.05).astype(int),
                          "pm": rng.choice(["credit_card", "debit_card", "bnpl"], n),
                          "ch": rng.choice(["in_store", "online"], n)})
    frame = model.training_frame(table, {"amt": "amount", "fraud": "is_fraud", "pm": "payment_method",
                                         "ch": "channel"})
    learned = profiles.learn(frame)
    assert not learned.typed and learned.hours == profiles.DEFAULT_HOURS
    assert learned.fraud_mix == profiles.DEFAULT_FRAUD_MIX and set(learned.category_median) == {"*"}
    assert learned.fraud_rate == pytest.approx(frame["is_fraud"].mean())

    synth = model.train(frame, epochs=1, seed=0)
    assert sampling.profile_of(synth) == learned
    rows = sampling.sample(synth, 2000, seed=1)
    assert {"amount_ratio", "payment_method", "channel", "fraud_type", "is_fraud"} <= set(rows.columns)
    assert set(rows["fraud_type"]) <= {profiles.HONEST, *profiles.FRAUD_TYPES}
    assert (rows["amount_ratio"] > 0).all() and set(rows["channel"]) <= {"in_store", "online"}
    assert rows["is_fraud"].mean() == pytest.approx(learned.fraud_rate, abs=0.02)
    generic = sampling.fraud(synth, "card_testing", 50, np.random.default_rng(2))
    assert len(generic) == 50 and "fraud_type" not in generic.columns

    # and the simulation turns them into complete, valid records
    sim = Simulator(synth, dimensions.build_dimensions(customers=500), SimOptions(start=START, rate=1.0),
                    np.random.default_rng(3))
    batch = records.to_records(sim.chunk(500), "user", 0)
    for record in batch:
        record.pop("_t")
        record["event_time"] = record["ingest_time"] = pd.Timestamp(START, unit="s", tz="UTC").to_pydatetime()
    from paylake import schema

    assert len(batch) >= 500 and all(schema.validate(r) == [] for r in batch)
