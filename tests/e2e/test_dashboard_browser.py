"""The dashboard in a real browser: headless Debian Chromium (Playwright) against Streamlit and a real Redis.

One test walks an operator's day: the page before any KPI exists, the page picking up a snapshot by itself,
its headline numbers equal to those in Redis for two windows, the History tab picking up the daily marts and
a failed data-quality gate by itself, and a dashboard whose Redis is down that shows a message and recovers
once Redis answers. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from factories import make_records
from kpi_truth import insert, seed_dimensions
from playwright.sync_api import BrowserContext, Locator, Page, expect, sync_playwright

from paylake import names
from paylake.archive import manifest, size
from paylake.dashboard import sample, view
from paylake.dashboard.commands import streamlit_argv, streamlit_env
from paylake.kpi import snapshot
from paylake.kpi.job import run_refresh
from paylake.settings import Settings
from paylake.stack.checkout import CHECKOUT
from paylake.stack.process import free_port, wait_until
from paylake.stack.servers import redis_service

pytestmark = pytest.mark.e2e

ARTIFACTS = CHECKOUT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 30_000
# 09:00 UTC at longitude -74 is 04:00 local: the large amounts of the first hour trip the rules, so alerts exist.
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@contextmanager
def dashboards(*configs: tuple[Settings, Path]) -> Iterator[list[str]]:
    """One Streamlit per (settings, log) on free ports, started together (each takes seconds); yields URLs."""
    procs: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    try:
        for settings, log in configs:
            port = free_port()
            env = streamlit_env(settings.with_overrides(dashboard_refresh_s=1.0))
            with open(log, "wb") as out:
                proc = subprocess.Popen(streamlit_argv(port), env=env, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True, cwd=CHECKOUT)
            procs.append((proc, f"http://127.0.0.1:{port}", log))
        for proc, url, log in procs:
            def healthy(proc: subprocess.Popen[bytes] = proc, url: str = url, log: Path = log) -> bool:
                assert proc.poll() is None, f"streamlit exited:\n{log.read_text()[-2000:]}"
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    return resp.status == 200

            wait_until(healthy, 90, f"streamlit on {url}")
        yield [url for _, url, _ in procs]
    finally:
        for proc, _, _ in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc, _, _ in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile per test
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1900},
        )
        try:
            yield context
        finally:
            context.close()


def _state(page: Page, marker: str = "paylake-state", **attrs: str) -> None:
    """Wait until the page's hidden state marker (the Live tab's, or ``paylake-history``) carries ``attrs``
    (the tab's fragment has rerun)."""
    selector = f"#{marker}" + "".join(f'[data-{k.replace("_", "-")}="{v}"]' for k, v in attrs.items())
    page.wait_for_selector(selector, state="attached", timeout=WAIT_MS)


def _metric(page: Page, label: str, within: Locator | None = None) -> str:
    """The value of the st.metric labelled ``label`` (in ``within``, e.g. one tab's panel, when given)."""
    metric = (within or page).locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$"))
    )
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _grid(page: Page, column: str):  # type: ignore[no-untyped-def]
    """The st.dataframe with a column named ``column`` (its accessible table mirrors the canvas grid)."""
    header = page.locator('th[role="columnheader"]', has_text=re.compile(f"^{re.escape(column)}$"))
    return page.locator('[data-testid="stDataFrame"]').filter(has=header)


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def _assert_headline_matches_redis(page: Page, client: redis.Redis, window: str) -> None:
    snap = snapshot.read(client)
    assert snap is not None
    head = snap.headlines[window]
    _state(page, state="ok", window=window, version=snap.version)
    marker = page.locator("#paylake-state")
    # Exact values (the marker carries repr() of the floats Redis holds) ...
    assert marker.get_attribute("data-count") == str(head.count)
    assert float(marker.get_attribute("data-amount") or "nan") == head.amount
    assert float(marker.get_attribute("data-fraud-rate") or "nan") == head.fraud_rate
    assert float(marker.get_attribute("data-latency-p95-ms") or "nan") == head.latency_p95_ms
    # ... and the visible numbers, read back from the rendered text, equal them to the digits shown.
    assert _number(_metric(page, "Transactions")) == head.count
    assert _number(_metric(page, "Amount")) == round(head.amount, 2)
    assert _number(_metric(page, "Fraud rate")) == round(head.fraud_rate * 100, 2)
    assert _number(_metric(page, "Latency p95")) == round(head.latency_p95_ms, 1)


def _run_pipeline(spark: Any, settings: Settings, mongo_db: Any) -> None:
    """Real writers fill Redis: the KPI job (snapshot + recent alerts) over two hours of known transactions,
    the archiver's hot-size check, and one archive-manifest entry (HDFS itself is not needed here)."""
    seed_dimensions(mongo_db)
    records = make_records(720, T0, step=timedelta(seconds=10))
    for record in records[:360:10]:
        record["amount"] = 900.0
    insert(mongo_db, records)
    result = run_refresh(spark, settings)
    assert result.new_count == 720 and result.snapshot_version
    size.record(settings.redis_url, size.measure(mongo_db, settings))
    done = T0 + timedelta(hours=3)
    mongo_db[names.ARCHIVE_MANIFEST].insert_one({"_id": "batch-e2e", "range_start": T0 - timedelta(days=1),
                                                 "range_end": T0, "rows": 1234, "bytes": 56789, "state": "complete",
                                                 "times": {"complete": done}})
    manifest.publish_recent(mongo_db, settings.redis_url)


def _check_history(page: Page, client: redis.Redis) -> None:
    """The History tab before any marts, then the marts job's payloads (35 days, a gate run that failed one
    check) appearing without a reload: the latest day's amount, the charts, the DQ panel naming the failed
    check; back on Live, the window chosen before is kept and the one-line DQ status is an error too."""
    expect(page.get_by_text("Data quality: no gate run yet")).to_be_visible()
    page.get_by_role("tab", name="History").click()
    _state(page, "paylake-history", state="empty", dq="none")
    expect(page.get_by_text("No marts yet")).to_be_visible()
    now = datetime.now(UTC)
    runs = sample.gate_runs(now)
    runs[0]["passed"] = False
    runs[0]["checks"][5].update(passed=False, count=3, sample=["tx-a", "tx-b", "tx-c"])  # type: ignore[index]
    assert runs[0]["checks"][5]["name"] == "referential_merchant"  # type: ignore[index]
    sample.publish_history(client, now, runs)
    latest = json.loads(client.get(names.MARTS_HISTORY) or "{}")["days"][-1]
    _state(page, "paylake-history", state="ok", days="35", latest=latest["date"], dq="failed")
    assert float(page.locator("#paylake-history").get_attribute("data-amount") or "nan") == latest["amount"]
    history = page.get_by_role("tabpanel", name="History")  # the Live panel's elements may linger a moment
    assert _number(_metric(page, "Amount", within=history)) == round(latest["amount"], 2)
    expect(page.get_by_text(f"last gate run for {runs[0]['date']} FAILED: referential_merchant (3)")).to_be_visible()
    checks = _grid(page, "sample ids")  # failed checks first
    expect(checks.locator('td[aria-colindex="1"]').first).to_have_text("referential_merchant", timeout=WAIT_MS)
    expect(checks.locator('td[aria-colindex="2"]').first).to_have_text("✗")
    expect(checks.locator('td[aria-colindex="4"]').first).to_have_text("tx-a, tx-b, tx-c")
    charts = history.locator('[data-testid="stVegaLiteChart"]')
    expect(charts).to_have_count(3)  # revenue per day, fraud rate and flagged share, RFM segments
    for i in range(3):
        expect(charts.nth(i).locator("canvas, svg").first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.screenshot(path=str(ARTIFACTS / "dashboard-history.png"), full_page=True)
    page.get_by_role("tab", name="Live").click()
    _state(page, window="1h")
    # Within the Live panel: the History panel's elements linger until the rerun that left it has finished.
    live = page.get_by_role("tabpanel", name="Live")
    expect(live.get_by_text("FAILED: referential_merchant (3)")).to_be_visible()


def test_dashboard_shows_the_numbers_in_redis(  # type: ignore[no-untyped-def]
    spark, mongo_db, settings: Settings, redis_client: redis.Redis, browser: BrowserContext, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    dead_port = free_port()  # nothing listens here until the test starts a Redis on it
    down = settings.with_overrides(redis_url=f"redis://127.0.0.1:{dead_port}/0", state_dir=tmp_path / "late")
    # The KPI job (Spark, tens of seconds) fills the test Redis while the dashboards start and the page whose
    # Redis is down is checked; the live page is opened only once the job has published.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pipeline = pool.submit(_run_pipeline, spark, settings, mongo_db)
        with dashboards((settings, tmp_path / "live.log"), (down, tmp_path / "down.log")) as (live_url, down_url):
            down_page = browser.new_page()
            down_page.goto(down_url)
            # Redis down: a clear message naming the address, and no traceback.
            _state(down_page, state="error")
            expect(down_page.get_by_text("Redis unreachable")).to_be_visible()
            expect(down_page.get_by_text(f"127.0.0.1:{dead_port}")).to_be_visible()
            down_page.screenshot(path=str(ARTIFACTS / "dashboard-redis-down.png"))
            pipeline.result()

            page = browser.new_page()
            page.goto(live_url)
            _assert_headline_matches_redis(page, redis_client, "all")
            assert page.locator("#paylake-state").get_attribute("data-stale") == "False"
            page.get_by_role("radio", name="1 h", exact=True).click()
            _assert_headline_matches_redis(page, redis_client, "1h")
            expect(page.locator('[data-testid="stMetricDelta"]').first).to_be_visible()  # 1 h has a previous hour
            hot = redis_client.hgetall(names.HOT_SIZE)
            hot_text = f"{float(hot['data_mb']):,.1f} MB of {float(hot['threshold_mb']):,.0f} MB threshold"
            expect(page.get_by_text(hot_text)).to_be_visible()
            newest = json.loads(redis_client.lindex(names.ALERTS_RECENT, 0) or "{}")
            alerts = _grid(page, "rule")
            expect(alerts.locator('td[aria-colindex="2"]').first).to_have_text(newest["transaction_id"],
                                                                               timeout=WAIT_MS)
            expect(alerts.locator('td[aria-colindex="6"]').first).to_have_text(", ".join(newest["rules"]))
            batch = json.loads(redis_client.lindex(names.ARCHIVE_RECENT, 0) or "{}")
            archive = _grid(page, "batch")  # compact columns, the batch id last: all fit half the page at 1400 px
            expect(archive.locator('td[aria-colindex="1"]').first).to_have_text(
                view.fmt_span(batch["range_start"], batch["range_end"]))
            expect(archive.locator('td[aria-colindex="6"]').first).to_have_text(batch["batch_id"])
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            _check_history(page, redis_client)

            # A Redis comes up on the dead port: the failing page recovers by itself to "no snapshot yet",
            # then shows a snapshot as soon as one is published there, all without a reload.
            late = redis_service(down, tmp_path / "late-run")
            late.start()
            try:
                _state(down_page, state="empty")
                expect(down_page.get_by_text("No KPI snapshot yet")).to_be_visible()
                published = snapshot.read(redis_client)
                assert published is not None
                # An hour-old snapshot there: the page shows it, with the staleness warning.
                old = replace(published, published_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
                late_client = redis.Redis.from_url(down.redis_url)
                snapshot.publish(late_client, old)
                late_client.close()
                _state(down_page, state="ok", window="all", version=published.version, stale="True")
                expect(down_page.get_by_text("Stale KPIs")).to_be_visible()
                expect(down_page.get_by_text("published 60 min", exact=False)).to_be_visible()
            finally:
                late.stop()

            for p in (page, down_page):
                assert p.locator('[data-testid="stException"]').count() == 0
