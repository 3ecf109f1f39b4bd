"""The Monday race's patients come to the opened day each at a moment of their own
within the profile's first second, not all in one instant (see
loadtest.profiles.ARRIVING_SECONDS); the other profiles' users start at once.

Locust patches the standard library with gevent when it is imported, so the users
run in a child process of their own."""

import json
import os
import subprocess
import sys
import textwrap

from loadtest.profiles import ARRIVING_SECONDS, shape_for

SCRIPT = textwrap.dedent(
    """
    import json
    import types
    from locust.env import Environment
    import loadtest.locustfile as lf

    waits = []  # what each user would wait before its first look
    lf.gevent = types.SimpleNamespace(sleep=waits.append)  # the locustfile's gevent only
    lf.MondayPatient.host = "http://127.0.0.1:9"  # never asked: no task runs
    env = Environment(user_classes=[lf.MondayPatient], shape_class=lf.Shape())
    for _ in range(200):
        lf.MondayPatient(env).on_start()
    print(json.dumps({"waits": waits, "shape": env.shape_class.report()}))
    """
)


def arrivals(profile: str) -> dict:
    env = {**os.environ, "IMIAS_LOAD_PROFILE": profile}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_racing_patients_arrive_spread_over_the_opening_second():
    seen = arrivals("monday-opening")
    waits = seen["waits"]
    assert len(waits) == 200
    assert all(0.0 <= w <= ARRIVING_SECONDS for w in waits), waits
    # spread over the window, not one moment: each tenth of it has some patients
    tenths = {int(w / ARRIVING_SECONDS * 10) for w in waits}
    assert len(tenths & set(range(10))) == 10, sorted(tenths)
    assert seen["shape"]["arriving_s"] == ARRIVING_SECONDS  # the report says so


def test_without_an_arrival_window_users_start_at_once():
    assert shape_for("emias-day").arriving == 0.0
    seen = arrivals("emias-day")
    assert seen["waits"] == [] and seen["shape"]["arriving_s"] == 0.0
