"""Where the dev stack finds what `make setup` built in the checkout (FerretDB, the jars).

Only the stack, the demo, tests and benches use these paths; the package itself never does, so it runs the
same from a wheel (settings say where things are).
"""

from __future__ import annotations

import os
from pathlib import Path

from paylake.settings import Settings

CHECKOUT = Path(__file__).resolve().parents[2]
BUILD_DIR = CHECKOUT / "build"
JARS_DIR = CHECKOUT / "jars" / "lib"
DAGS_DIR = CHECKOUT / "dags"


def with_checkout_jars(settings: Settings) -> Settings:
    """``settings`` with the checkout's jars when PAYLAKE_JARS_DIR is not set."""
    return settings if settings.jars_dir else settings.with_overrides(jars_dir=JARS_DIR)


def dev_settings(settings: Settings) -> Settings:
    """The stack's and the demo's settings: state in the checkout's .state/ and its jars, unless
    PAYLAKE_STATE_DIR / PAYLAKE_JARS_DIR say otherwise (children get them through settings_env)."""
    if not os.environ.get("PAYLAKE_STATE_DIR"):
        settings = settings.with_overrides(state_dir=CHECKOUT / ".state")
    return with_checkout_jars(settings)


def in_process_spark(settings: Settings) -> Settings:
    """``settings`` for a bench that starts its own local SparkSession (no Spark Connect server to use)."""
    return with_checkout_jars(settings).with_overrides(spark_remote="off")
