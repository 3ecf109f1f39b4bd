"""The load test's users count days as the city does: a patient joins the waitlist from
the city's today and a doctor asks for the city's today, whatever the machine's UTC
date (the waitlist refuses a day before the city's today: every join failed after
21:00 UTC in Moscow). Locust patches the standard library with gevent when it is
imported, so the users run in a child process of their own."""

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SCRIPT = textwrap.dedent(
    """
    import json
    from locust.env import Environment
    import loadtest.locustfile as lf

    asked = []

    def call(method, path, name, **kwargs):
        asked.append({"name": name, **{k: kwargs.get(k) for k in ("json", "params")}})
        return "refused", None

    env = Environment(user_classes=[lf.WebPatient, lf.Doctor])
    for cls, task in ((lf.WebPatient, "waitlist"), (lf.Doctor, "work")):
        cls.host = "http://127.0.0.1:9"  # never asked: call is the stub above
        user = cls(env)
        user.me = {"id": 1, "token": "t"}
        user.call = call
        getattr(user, task)()
    print(json.dumps(asked))
    """
)


def test_waitlist_and_doctors_day_use_the_citys_date(tmp_path):
    # A city whose date is not UTC's now: UTC+14 is a day ahead from 10:00 UTC, UTC-12
    # a day behind before 12:00.
    zone = (
        "Etc/GMT-14"
        if datetime.now(ZoneInfo("Etc/GMT-14")).day != datetime.now(UTC).day
        else "Etc/GMT+12"
    )
    cast = {
        "patients": [], "registrars": [], "doctors": [], "popular_doctors": [],
        "opening_day": None, "specialties": ["therapist"], "open_specialties": ["dentist"],
        "referral_specialties": [], "time_zone": zone,
    }  # fmt: skip
    path = tmp_path / "cast.json"
    path.write_text(json.dumps(cast))
    env = {**os.environ, "IMIAS_LOAD_CAST": str(path), "IMIAS_LOAD_PROFILE": "emias-day"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    joined, day = json.loads(done.stdout.strip().splitlines()[-1])
    city_today = datetime.now(ZoneInfo(zone)).date().isoformat()
    assert city_today != datetime.now(UTC).date().isoformat()
    assert joined["name"] == "join waitlist" and joined["json"]["from"] == city_today
    assert day["name"] == "doctor: day" and day["params"] == {"date": city_today}
