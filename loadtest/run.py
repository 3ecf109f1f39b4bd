"""One load run: the cast, locust headless, the audit, the report folder.

The report folder holds locust's CSV files (``locust_stats.csv``,
``locust_stats_history.csv``, ``locust_failures.csv``, ``locust_exceptions.csv``), its
HTML report (``report.html``), ``summary.json`` (the figures of the run, the refusals
counted apart, the profile's own report and the audit) and, when matplotlib is
installed, ``chart.png`` (throughput and p50/p95/p99 over time).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from loadtest import audit as db_audit
from loadtest import cast as load_cast
from loadtest import opening
from loadtest.machine import CpuSnapshot, cpu_snapshot, cpu_split, describe
from loadtest.profiles import CLASSES, DEFAULTS, target_met

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PREFIX = "locust"


def report_folder(base: Path, profile: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = base / f"{profile}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def read_stats(folder: Path) -> dict[str, Any]:
    """The aggregated row of locust's stats CSV, and the rows per request name."""
    path = folder / f"{PREFIX}_stats.csv"
    rows = list(csv.DictReader(path.open())) if path.exists() else []
    by_name: dict[str, Any] = {}
    total: dict[str, Any] = {}
    for row in rows:
        figures = {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "per_second": _number(row["Requests/s"]),
            "p50_ms": _number(row["50%"]),
            "p95_ms": _number(row["95%"]),
            "p99_ms": _number(row["99%"]),
        }
        if row["Name"] == "Aggregated":
            total = figures
        else:
            by_name[f"{row['Type']} {row['Name']}"] = figures
    return {"total": total, "requests": by_name}


def chart(folder: Path) -> Path | None:
    """Throughput and p50/p95/p99 over time from the stats history; None without
    matplotlib (an optional dependency) or without history."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    path = folder / f"{PREFIX}_stats_history.csv"
    rows = [r for r in csv.DictReader(path.open()) if r["Name"] == "Aggregated"]
    if not rows:
        return None
    nan = float("nan")
    start = int(rows[0]["Timestamp"])
    seconds = [int(r["Timestamp"]) - start for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    top.plot(seconds, [_number(r["Requests/s"]) or 0 for r in rows], label="requests/s")
    top.plot(seconds, [_number(r["Failures/s"]) or 0 for r in rows], label="failures/s")
    top.set_ylabel("per second")
    top.legend(loc="upper left")
    for q in ("50%", "95%", "99%"):
        values = [_number(r[q]) for r in rows]  # N/A before the first answer: a gap
        bottom.plot(seconds, [nan if v is None else v for v in values], label=f"p{q[:-1]}")
    bottom.set_ylabel("ms")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper left")
    fig.suptitle(folder.name)
    out = folder / "chart.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def run(
    profile: str,
    *,
    url: str,
    database_url: str,
    token_key: bytes,
    report_base: Path,
    duration: int | None = None,
    users: int | None = None,
    patients: int = 50_000,
    popular: int = 100,
    log: Any = print,
) -> dict[str, Any]:
    """Run ``profile`` against ``url`` and write the report folder; the summary
    (``summary["passed"]``: requests were made, none failed unexpectedly, and the
    audit of the database passed). ``popular``: the doctors a Monday opening races for."""
    if profile not in CLASSES:
        raise ValueError(f"unknown profile {profile!r}; one of {', '.join(CLASSES)}")
    default_users, default_seconds = DEFAULTS[profile]
    users = users or default_users
    duration = duration or default_seconds
    folder = report_folder(report_base, profile)
    day: date | None = None
    raced: list[int] = []
    if profile == "monday-opening":
        day, raced = opening.choose(url, database_url, popular)
        log(f"the opening day: {day}, {len(raced)} popular doctors working it")
    log(f"preparing the cast (patients, registrars, doctors and their tokens) in {folder}")
    cast = asyncio.run(
        load_cast.gather(
            database_url,
            token_key,
            patients=max(patients, users),
            ttl=86_400,
            popular_doctors=raced,
            opening_day=day,
        )
    )
    cast_path = load_cast.write(cast, folder / "cast.json")
    out_path = folder / "users.json"
    env = os.environ | {
        "IMIAS_LOAD_PROFILE": profile,
        "IMIAS_LOAD_USERS": str(users),
        "IMIAS_LOAD_DURATION": str(duration),
        "IMIAS_LOAD_CAST": str(cast_path),
        "IMIAS_LOAD_OUT": str(out_path),
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        url,
        "--csv",
        str(folder / PREFIX),
        "--csv-full-history",
        "--html",
        str(folder / "report.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        *CLASSES[profile],
    ]
    # Measured before the load, while the machine is quiet: its speed, for comparing
    # this run's figures with another machine's.
    machine = describe()
    log(f"locust: {profile}, {users} users, {duration} s against {url}")
    cpu0, children0 = cpu_snapshot(), resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    locust = subprocess.run(
        command, env=env, cwd=folder, capture_output=True, text=True, timeout=duration + 300
    )
    took = time.monotonic() - began
    cpu1, children1 = cpu_snapshot(), resource.getrusage(resource.RUSAGE_CHILDREN)
    (folder / "locust.log").write_text(locust.stdout + locust.stderr)
    cast_path.unlink()  # tokens: not left lying in a report
    seen = json.loads(out_path.read_text()) if out_path.exists() else {}
    pending = asyncio.run(db_audit.wait_for_outbox(database_url))
    log(f"auditing the database (outbox pending after the wait: {pending})")
    checks = asyncio.run(
        db_audit.audit(
            database_url,
            seen.get("confirmed", ()),
            # a cancel or move in flight when locust stopped may have been carried out
            [*seen.get("released", ()), *seen.get("unanswered", ())],
        )
    )
    if day is not None:  # every time of the opened day taken, none twice (no_overlaps)
        taken = asyncio.run(opening.check(url, database_url, day, raced))
        checks["checks"]["opening_day_taken_once"] = taken
        checks["passed"] = bool(checks["passed"] and raced and taken["count"] == 0)
    stats = read_stats(folder)
    total = stats["total"]
    requests = total.get("requests", 0)
    failures = total.get("failures", 0)
    summary = {
        "profile": profile,
        "url": url,
        "users": users,
        "duration_s": duration,
        "wall_s": round(took, 1),
        "machine": machine,
        "requests": requests,
        "failures": failures,
        "per_second": total.get("per_second"),
        "p50_ms": total.get("p50_ms"),
        "p95_ms": total.get("p95_ms"),
        "p99_ms": total.get("p99_ms"),
        "refusals": seen.get("refusals", {}),
        "refusals_total": sum(seen.get("refusals", {}).values()),
        "refusals_by_request": seen.get("refusals_by_request", {}),
        "confirmed": len(seen.get("confirmed", ())),
        "unanswered_at_stop": len(seen.get("unanswered", ())),
        "phone_bookings": seen.get("phone_bookings", 0),
        "race_over": seen.get("race_over", False),
        "shape": seen.get("shape", {}),
        "by_request": stats["requests"],
        "locust_exit": locust.returncode,
        "audit": checks,
    }
    summary.update(_cpu_per_request(cpu0, cpu1, children0, children1, requests))
    summary["passed"] = bool(requests > 0 and failures == 0 and checks["passed"])
    if profile == "stress":  # the ramp stops at its failure limit by design
        summary["passed"] = bool(
            requests > 0 and failures <= db_audit_limit(requests) and checks["passed"]
        )
    summary["target"] = target_met(profile, summary)
    png = chart(folder) if requests else None
    summary["chart"] = png.name if png else None
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    summary["folder"] = str(folder)
    return summary


def _cpu_per_request(
    before: CpuSnapshot | None,
    after: CpuSnapshot | None,
    children_before: resource.struct_rusage,
    children_after: resource.struct_rusage,
    requests: int,
) -> dict[str, Any]:
    """Where the machine's CPU went during the run, in milliseconds a request: the
    server, PostgreSQL, Redis, locust (a child that has ended by the second snapshot,
    so counted by its rusage) and everything else; nothing where there is no /proc."""
    if before is None or after is None or not requests:
        return {}
    split = cpu_split(before, after, requests)
    cpu = split.pop("cpu_ms")
    cpu.pop("caller")  # this process waits for locust
    locust = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    cpu["locust"] = round(locust * 1000 / requests, 3)
    return {"cpu_ms_per_request": cpu, **split}


def db_audit_limit(requests: int) -> int:
    """The failures the stress ramp may end on: its own limit (0.1 %), rounded up."""
    from loadtest.profiles import FAILURE_LIMIT

    return int(requests * FAILURE_LIMIT) + 1
