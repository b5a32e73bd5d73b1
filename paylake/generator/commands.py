"""`paylake reference | dimensions | train | generate`. Heavy imports (sdv, torch, pandas) stay in handlers."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from paylake.cli import positive_float, positive_int
from paylake.data import REFERENCE_CSV
from paylake.errors import UsageError
from paylake.settings import load_settings


def _reference(args: argparse.Namespace) -> int:
    from paylake.generator import reference

    df = reference.simulate(n_rows=args.rows, seed=args.seed, days=args.days)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False, date_format="%Y-%m-%dT%H:%M:%SZ",
              compression={"method": "gzip", "mtime": 0} if str(args.out).endswith(".gz") else None)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): {reference.summary(df)}")
    return 0


def _dimensions(args: argparse.Namespace) -> int:

    from paylake.generator import dimensions, stream
    from paylake.mongo import open_db

    settings = load_settings()
    with open_db(settings, 3000) as db:
        if args.repair:  # every stored document compared and rewritten where it differs (~45 s at 500,000)
            dims = dimensions.build_dimensions(customers=settings.customers)
            stream.with_retry(lambda: dimensions.reseed(db, dims), stream.where(settings), args.max_retry_s, print)
        else:  # seeded once; later runs trust the seeding record after a spot check (~1 s)
            dims = stream.with_retry(lambda: dimensions.ensure_dimensions(db, settings.customers),
                                     stream.where(settings), args.max_retry_s, print)
    sizes = {"categories": len(dims.categories), "merchants": len(dims.merchants), "customers": len(dims.customers)}
    print("dimensions in place (idempotent): " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    return 0


def _parse_map(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        theirs, sep, ours = pair.partition("=")
        if not sep or not theirs or not ours:
            raise ValueError(f"--map expects THEIR_COLUMN=OUR_COLUMN, got {pair!r}")
        mapping[theirs] = ours
    return mapping


def _train(args: argparse.Namespace) -> int:
    import pandas as pd

    from paylake.generator import model, sampling
    from paylake.generator import profile as profiles

    settings = load_settings()
    preset = model.QUICK if args.quick else model.DEFAULT
    epochs, rows = args.epochs or preset.epochs, args.rows or preset.rows
    csv = args.csv or REFERENCE_CSV
    if not csv.exists():
        raise UsageError(f"training table {csv} does not exist (regenerate the reference with `paylake reference`)")
    try:
        table = pd.read_csv(csv)
        frame = model.training_frame(table, _parse_map(args.map))
    except (ValueError, pd.errors.ParserError) as exc:  # an unreadable table or a bad --map
        raise UsageError(str(exc)) from exc
    subset = frame.sample(n=min(rows, len(frame)), random_state=args.seed) if rows < len(frame) else frame
    print(f"training CTGAN on {len(subset):,} of {len(frame):,} rows from {csv.name}, {epochs} epochs "
          f"(columns: {', '.join(subset.columns)})…", flush=True)
    started = time.monotonic()
    synthesizer = model.train(subset, epochs=epochs, verbose=args.verbose_training, seed=args.seed)
    print(f"trained in {time.monotonic() - started:.1f}s", flush=True)
    model.save(synthesizer, settings.model_file)
    model.speed_up_sampling(synthesizer)
    check = frame.sample(n=min(5000, len(frame)), random_state=1)
    real = profiles.behaviour(check, sampling.profile_of(synthesizer), model.reference_spend())
    score = model.quality_score(real, sampling.sample(synthesizer, len(real), seed=1))
    print(f"saved {settings.model_file}\nSDV quality score of the behaviour vs the training table: {score:.1%} "
          "(the stream's own realism: bench/realism.py)")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from paylake.generator import stream

    settings = load_settings()
    start = None
    if args.start:
        try:
            start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(f"--start must be an ISO date/time like 2026-11-01T00:00:00Z, got {args.start!r}") from exc
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    if args.count is None and args.duration is None:
        print("no --count or --duration: generating until Ctrl-C", file=sys.stderr)
    counts = stream.run(settings, count=args.count, duration=args.duration, rate=args.rate, start=start,
                        speedup=args.speedup, bad_rate=args.bad_rate, batch_size=args.batch_size,
                        seed=args.seed, max_retry_s=args.max_retry_s)
    print(f"{counts.line()}  ({'adds up' if counts.adds_up() else 'DOES NOT ADD UP'})")
    return 0 if counts.adds_up() and counts.failed == 0 else 1


TRAIN_HELP = ("Fit SDV's CTGANSynthesizer on the reference table (or --csv), save it to PAYLAKE_MODEL_PATH or "
              "<state_dir>/models/ctgan.pkl and print SDV's quality score. Default: 100 epochs on 20,000 rows "
              "(minutes on 2 cores); --quick: 10 epochs on 8,000 rows (under a minute on an idle machine).")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("reference", help="regenerate the reference table in data/ from a seed",
                              description="Simulate the reference transactions table "
                                          "(documented in paylake/generator/reference.py).")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--rows", type=positive_int, default=50_000)
    p.add_argument("--days", type=positive_int, default=28)
    p.add_argument("--out", type=Path, default=REFERENCE_CSV)
    p.set_defaults(func=_reference)

    p = subparsers.add_parser("dimensions", help="seed merchants, categories and customers (idempotent)",
                              description="Store the dimension collections by _id (PAYLAKE_CUSTOMERS customers, "
                                          "default 500,000); running it twice changes nothing. Once seeded, a run "
                                          "spot-checks ids; --repair compares every document.")
    p.add_argument("--repair", action="store_true",
                   help="compare every stored document with the seed's and rewrite the ones that differ")
    p.add_argument("--max-retry-s", type=positive_float, default=60.0, help="give up after this long without MongoDB")
    p.set_defaults(func=_dimensions)

    p = subparsers.add_parser("train", help="fit the CTGAN model (SDV) and save it under the state dir",
                              description=TRAIN_HELP)
    p.add_argument("--csv", type=Path, help="your own transactions table (CSV) instead of the shipped reference")
    p.add_argument("--map", action="append", default=[], metavar="THEIRS=OURS",
                   help="rename a CSV column to a paylake column (repeatable), e.g. --map amt=amount")
    p.add_argument("--epochs", type=positive_int, help="training epochs (default 100, --quick 10)")
    p.add_argument("--rows", type=positive_int,
                   help="train on a random subset of this many rows (default 20000, --quick 8000)")
    p.add_argument("--quick", action="store_true", help="a quick model for demos and tests")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose-training", action="store_true", help="print CTGAN's losses per epoch")
    p.set_defaults(func=_train)

    p = subparsers.add_parser("generate", help="stream synthetic transactions into MongoDB",
                              description="Sample the trained model, attach dimension keys and times, validate "
                                          "and insert; prints generated/inserted/duplicate/dead-lettered/failed.")
    p.add_argument("--count", type=positive_int, help="stop after this many records")
    p.add_argument("--duration", type=positive_float, help="stop after this many seconds")
    p.add_argument("--rate", type=positive_float,
                   help="transactions per second (default: as fast as the server takes them)")
    p.add_argument("--start", help="simulated clock start (ISO, UTC), for backfill; default: the live clock")
    p.add_argument("--speedup", type=positive_float, default=1.0,
                   help="simulated seconds per wall second (with --start)")
    p.add_argument("--bad-rate", type=float, default=0.0,
                   help="share of records deliberately malformed (exercises the dead-letter path)")
    p.add_argument("--batch-size", type=positive_int, default=5000, help="records per insert_many")
    p.add_argument("--seed", type=int)
    p.add_argument("--max-retry-s", type=positive_float, default=300.0,
                   help="give up on a batch after this long without MongoDB (its records are kept in a spill file)")
    p.set_defaults(func=_generate)
