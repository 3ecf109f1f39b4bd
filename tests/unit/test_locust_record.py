"""What the load test's users note of their cancels and moves, for the audit: an
appointment whose cancel was sent but whose answer never came (the run stopped the
request) counts as possibly cancelled by the run, so a cancellation carried out after
locust stopped reading answers is not reported as one nobody asked for.

Locust patches the standard library with gevent when it is imported, so the users
run in a child process of their own."""

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json
    import gevent
    from locust.env import Environment
    from loadtest.locustfile import RECORD, WebPatient

    WebPatient.host = "http://127.0.0.1:9"  # never reached: the requests are replaced
    user = WebPatient(Environment(user_classes=[WebPatient]))
    user.me = {"id": 7, "token": "t", "clinic": 1}

    def stopped(*args, **kwargs):  # the run stops while the request is in flight
        raise gevent.GreenletExit()

    def answered(*args, **kwargs):
        return "ok", None

    user.booked = [41]
    user.call = stopped
    try:
        user.cancel()
    except gevent.GreenletExit:
        pass
    user.booked = [42]
    user.call = answered
    user.cancel()
    print(json.dumps(RECORD.dump()))
    """
)


def test_a_cancel_stopped_in_flight_is_noted_as_unanswered_and_an_answered_one_as_released():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["unanswered"] == [41]
    assert record["released"] == [42]
