"""Realism of the live stream against the reference table, in one run.

    .venv/bin/python bench/realism.py [--count 80000] [--windows 4] [--rate 2000] [--speedup 100] [--model PATH]

Starts its own MongoDB-compatible server in a temp dir, seeds the dimensions (PAYLAKE_CUSTOMERS customers,
500,000 by default), trains the quick model on the reference (or loads ``--model``) and runs
``paylake generate``'s own function (``stream.run``) twice:
* the *dense* stream: ``--count`` payments at ``--rate`` with ``--speedup`` (2000 tx/s ÷ 100 = 20 simulated
  tx/s, the demo's density) in ``--windows`` runs spread over a day, whose consecutive payments per
  customer judge travel, bursts and the rules (each window its own database: a run starts its customers
  at home, and ends mid-episode, so short windows cut card-testing bursts);
* the *day* stream: ``--day-count`` payments spread over one simulated day, whose local hours judge the
  hourly profile (a 33-minute dense stream only sees the few hours it spans).
Then, against the reference table (bench/rules.py's figures come from the same function):
* SDV's quality report (SDMetrics: column shapes and pair trends) on comparable columns, including derived
  ones: local hour, distance from the customer's home, amount over the category median;
* the fraud rate; the KPI job's rules (flagged share, precision, recall);
* the share of honest consecutive pairs implying > 900 km/h, and of honest payments in bursts of 6 in 10 min.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pymongo
from rules import pooled, print_figures, reference_records, rule_figures

from paylake import names, schema
from paylake.data import REFERENCE_CSV
from paylake.generator import dimensions, geo, model, realism, stream
from paylake.settings import Settings, load_settings
from paylake.spark import build_session
from paylake.stack.checkout import in_process_spark
from paylake.stack.process import free_port
from paylake.stack.servers import mongo_service

CATEGORICAL = ("category", "payment_method", "channel", "device_type", "is_new_device", "status", "is_fraud",
               "local_hour")
NUMERICAL = ("amount", "amount_vs_median", "distance_from_home_km", "latency_ms")


def comparable(df: pd.DataFrame, dims: dimensions.Dimensions) -> pd.DataFrame:
    """The columns a user sees, plus derived ones, for the stream and the reference alike."""
    home = {c["_id"]: (c["home_latitude"], c["home_longitude"]) for c in dims.customers}
    median = {c["_id"]: c["median_amount"] for c in dims.categories}
    category = {m["_id"]: m["category"] for m in dims.merchants}
    lat_lon = np.array([home[c] for c in df["customer_id"]])
    cats = df["merchant_id"].map(category)
    return pd.DataFrame({
        "category": cats, "amount": df["amount"].astype(float),
        "amount_vs_median": df["amount"].astype(float) / cats.map(median).astype(float),
        "payment_method": df["payment_method"], "channel": df["channel"], "device_type": df["device_type"],
        "is_new_device": df["is_new_device"].astype(bool).astype(str), "status": df["status"],
        "latency_ms": df["latency_ms"].astype(float), "is_fraud": df["is_fraud"].astype(bool).astype(str),
        "distance_from_home_km": geo.haversine_km(lat_lon[:, 0], lat_lon[:, 1], df["latitude"].to_numpy(float),
                                                  df["longitude"].to_numpy(float)),
        "local_hour": realism.local_hours(df).astype(str),
    })


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]) -> tuple[float, dict[str, float]]:
    """SDMetrics' quality report over ``columns``: overall score and per-column shape scores."""
    from sdmetrics.reports.single_table import QualityReport

    meta = {"columns": {c: {"sdtype": "categorical" if c in CATEGORICAL else "numerical"} for c in columns}}
    report = QualityReport()
    report.generate(real[columns], synthetic[columns], meta, verbose=False)
    shapes = report.get_details("Column Shapes").set_index("Column")["Score"].to_dict()
    return float(report.get_score()), {str(k): float(v) for k, v in shapes.items()}


DAY = datetime(2026, 11, 30, tzinfo=UTC)  # a fixed day: the same local hours on every run


def _stream(settings: Settings, synth: Any, db: str, count: int, rate: float, speedup: float,
            windows: int = 1) -> list[list[dict]]:
    """``count`` payments in ``windows`` runs starting evenly over the day, each read back and removed before
    the next (a run starts its customers at home: pairs across two runs would be an artefact of the
    stitching). One database for all, so the dimensions are seeded once (~45 s at 500,000 customers)."""
    started = time.monotonic()
    out = []
    client: pymongo.MongoClient = pymongo.MongoClient(settings.mongo_uri, tz_aware=True)
    try:
        for w in range(windows):
            counts = stream.run(settings, count=count // windows, rate=rate,
                                start=DAY + timedelta(hours=24 * w / windows), speedup=speedup, seed=7 + w,
                                synthesizer=synth, progress=False)
            print(f"  {db} window {w + 1}/{windows}: {counts.line()}", flush=True)
            transactions = client[settings.mongo_db][names.TRANSACTIONS]
            out.append(list(transactions.find({})))
            transactions.drop()
    finally:
        client.close()
    print(f"  {db}: {time.monotonic() - started:.0f} s", flush=True)
    return out


def _model(path: Path | None) -> Any:
    if path is not None:
        return model.load(path)
    frame = model.training_frame(pd.read_csv(REFERENCE_CSV))
    started = time.monotonic()
    synth = model.train(frame.sample(model.QUICK.rows, random_state=0), epochs=model.QUICK.epochs, seed=0)
    print(f"quick model trained in {time.monotonic() - started:.0f} s ({model.QUICK.epochs} epochs, "
          f"{model.QUICK.rows:,} rows)", flush=True)
    return synth


def _travel_bursts(name: str, frames: list[pd.DataFrame]) -> None:
    pairs = [realism.honest_pairs(df) for df in frames]
    far = sum(int(((p["km"] > realism.TRAVEL_MIN_KM) & (p["kmh"] > realism.TRAVEL_KMH)).sum()) for p in pairs)
    n_pairs = sum(len(p) for p in pairs)
    bursts = sum(int(realism.in_bursts(df)[~df["is_fraud"].astype(bool).to_numpy()].sum()) for df in frames)
    honest = sum(int((~df["is_fraud"].astype(bool)).sum()) for df in frames)
    print(f"  {name:<10} honest pairs {n_pairs:>7,}  impossible travel {far / max(n_pairs, 1):.3%} ({far})  "
          f"honest in bursts {bursts / max(honest, 1):.3%} ({bursts})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=80_000)
    parser.add_argument("--day-count", type=int, default=40_000)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--speedup", type=float, default=100.0)
    parser.add_argument("--windows", type=int, default=4,
                        help="the dense stream runs in this many windows spread over a day, so its local "
                             "hours (and night-time rules) are the day's, not those of one half hour")
    parser.add_argument("--model", type=Path, help="a trained model (default: train the quick one now)")
    args = parser.parse_args()
    base = load_settings()
    state = Path(tempfile.mkdtemp(prefix="paylake-bench-realism-"))
    settings = base.with_overrides(state_dir=state, mongo_uri=f"mongodb://127.0.0.1:{free_port()}")
    service = mongo_service(settings, state / "run")
    service.start()
    try:
        return _run(args, settings)
    finally:
        service.stop()


def _run(args: argparse.Namespace, settings: Settings) -> int:
    synth = _model(args.model)
    print(f"streams ({settings.customers:,} customers; seeding them is part of the first run):", flush=True)
    dense = _stream(settings, synth, "dense", args.count, args.rate, args.speedup, args.windows)
    day = _stream(settings, synth, "day", args.day_count, args.rate, 86_400 * args.rate / args.day_count)[0]
    dims = dimensions.build_dimensions(customers=settings.customers)
    ref_docs = reference_records(REFERENCE_CSV)
    windows = [pd.DataFrame([schema.from_mongo(d) for d in docs]) for docs in dense]
    frames = {"reference": pd.DataFrame([schema.from_mongo(d) for d in ref_docs]),
              "dense": pd.concat(windows, ignore_index=True), "day": pd.DataFrame([schema.from_mongo(d) for d in day])}
    table = {name: comparable(df, dims) for name, df in frames.items()}
    columns = [c for c in table["reference"].columns if c != "local_hour"]
    dense_q, dense_shapes = quality(table["reference"], table["dense"], columns)
    day_q, day_shapes = quality(table["reference"], table["day"], [*columns, "local_hour"])
    print(f"\nSDV quality vs the reference (dense stream, {len(columns)} columns): {dense_q:.1%}   "
          f"(day stream, with local hour: {day_q:.1%})  target ≥ 90 %")
    print("  column shapes, dense: " + ", ".join(f"{k} {v:.2f}" for k, v in dense_shapes.items()))
    print(f"  local hour shape, day stream: {day_shapes['local_hour']:.2f}")
    ref_rate, rate = frames["reference"]["is_fraud"].mean(), frames["dense"]["is_fraud"].mean()
    print(f"fraud rate: stream {rate:.2%}  reference {ref_rate:.2%}  (target within ±0.30 pp: "
          f"{abs(rate - ref_rate) * 100:.2f} pp)")
    print("travel and bursts (targets ≤ 0.1 %):")
    _travel_bursts("reference", [frames["reference"]])
    _travel_bursts("dense", windows)
    _rules(settings, ref_docs, dense, dims)
    return 0


def _rules(settings: Settings, ref_docs: list[dict], windows: list[list[dict]], dims: dimensions.Dimensions) -> None:
    spark = build_session(in_process_spark(settings), "paylake-bench-realism")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        ref_rules, _ = rule_figures(spark, ref_docs, dimensions.build_dimensions())
        tables = []
        for docs in windows:
            used = {d["customer_id"] for d in docs}  # the rules need only these of the population
            window_dims = dimensions.Dimensions(dims.categories, dims.merchants,
                                                [c for c in dims.customers if c["_id"] in used])
            tables.append(rule_figures(spark, docs, window_dims)[0])
    finally:
        spark.stop()
    stream_rules = pooled(tables)
    for name, figures in (("reference", ref_rules), ("stream", stream_rules)):
        print(f"\nrules on the {name}:")
        print_figures(figures)
    ref_any, any_ = ref_rules.loc["any"], stream_rules.loc["any"]
    print(f"\nflagged share {any_['share']:.2%} vs {ref_any['share']:.2%} (target ±1 pp); precision "
          f"{any_['precision'] / ref_any['precision']:.0%} and recall {any_['recall'] / ref_any['recall']:.0%} "
          "of the reference's (targets ≥ 80 %)")


if __name__ == "__main__":
    sys.exit(main())
