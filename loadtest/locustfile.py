"""Locust scenarios: one user class per channel, weighted like EMIAS's traffic.

Run through ``imias loadtest PROFILE`` (see :mod:`loadtest.run`), which prepares the
cast (``IMIAS_LOAD_CAST``: patients, registrars, doctors and their tokens), chooses
the user classes and the shape of the profile (``IMIAS_LOAD_PROFILE``) and writes
what the users saw (``IMIAS_LOAD_OUT``: refusals by code, confirmed appointment ids)
when locust stops.

A 4xx problem document whose code is an expected refusal (:data:`EXPECTED`) is a
success in locust's figures and is counted apart (the ``refusals`` of the summary);
any other 4xx, a 5xx or a transport error is a failure.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import sys
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import gevent
from locust import FastHttpUser, LoadTestShape, between, events, task

from imias.channels.phone.twiml import parse as parse_twiml
from loadtest import walk
from loadtest.cast import CITY_TIME_ZONE
from loadtest.opening import slots_query
from loadtest.profiles import shape_for
from loadtest.walk import Answer, Outcome, Walk, problem_code

# Refusals the API is meant to give under load: races for a slot, a patient's limits
# (one future appointment and one place on a waitlist per specialty, two holds), time
# passing (a slot begins, a hold expires), and a patient's own appointment changed by
# another of their channels meanwhile (checked in at a kiosk, so no longer movable or
# cancellable from the web). Any other 4xx is a failure: a scenario that asks for
# what the rules forbid (a child's doctor for an adult) has rotted.
EXPECTED = frozenset(
    {
        "slot_taken",
        "hold_limit",
        "duplicate_appointment",
        "already_waiting",
        "slot_in_past",
        "hold_expired",
        "not_reschedulable",
        "not_cancellable",
    }
)
DEMO_CODE = re.compile(r"code is ([0-9 ]+)")


class Record:
    """What the users saw, for the summary and the audit (one locust process)."""

    def __init__(self) -> None:
        self.refusals: Counter[str] = Counter()
        self.confirmed: set[int] = set()
        self.released: set[int] = set()  # cancelled or moved away by the run
        # Asked to be cancelled or moved away, the answer not read yet: when the run
        # stops, those still here may have been carried out all the same.
        self.unanswered: set[int] = set()
        self.phone_bookings = 0
        self.by_request: Counter[str] = Counter()
        self.race_over = False  # monday-opening: every raced doctor's day was full

    def refused(self, name: str, code: str) -> None:
        """An expected refusal: a success in locust's figures, counted here apart."""
        self.refusals[code] += 1
        self.by_request[f"{name}: {code}"] += 1

    def dump(self) -> dict[str, Any]:
        return {
            "refusals": dict(self.refusals.most_common()),
            "refusals_by_request": dict(self.by_request.most_common()),
            "confirmed": sorted(self.confirmed),
            "released": sorted(self.released),
            "unanswered": sorted(self.unanswered),
            "phone_bookings": self.phone_bookings,
            "race_over": self.race_over,
        }


RECORD = Record()


def _load_cast() -> dict[str, Any]:
    path = os.environ.get("IMIAS_LOAD_CAST")
    if not path:
        return {
            "patients": [],
            "registrars": [],
            "doctors": [],
            "popular_doctors": [],
            "opening_day": None,
            "specialties": ["therapist"],
            "open_specialties": [],
            "referral_specialties": [],
            "time_zone": CITY_TIME_ZONE,
        }
    with open(path) as f:
        return json.load(f)


CAST = _load_cast()
CITY = ZoneInfo(CAST.get("time_zone") or CITY_TIME_ZONE)


def city_today() -> date:
    """The city's date now: the day the server counts in (not this machine's UTC day)."""
    return datetime.now(CITY).date()


_patients = itertools.cycle(CAST["patients"] or [None])
_registrars = itertools.cycle(CAST["registrars"] or [None])
_doctors = itertools.cycle(CAST["doctors"] or [None])


RUN_BY_IMIAS = (
    "loadtest/locustfile.py runs under `imias loadtest PROFILE` (emias-day, monday-opening, "
    "stress), which prepares the city's patients, staff and their tokens, starts a server "
    "if none is given and audits the database after; install it with "
    "`pip install -e '.[loadtest]'` and run `imias loadtest emias-day`"
)


@events.init.add_listener
def _needs_a_cast(environment: Any, **_: Any) -> None:
    """Run by hand (``locust -f loadtest/locustfile.py``), there is no cast to play:
    say how to run it instead of failing in every user."""
    if not os.environ.get("IMIAS_LOAD_CAST"):
        sys.stderr.write(RUN_BY_IMIAS + "\n")
        sys.exit(2)


@events.test_stop.add_listener
def _write_record(environment: Any, **_: Any) -> None:
    out = os.environ.get("IMIAS_LOAD_OUT")
    if out:
        data = RECORD.dump()
        shape = environment.shape_class
        data["shape"] = shape.report() if shape is not None and hasattr(shape, "report") else {}
        with open(out, "w") as f:
            json.dump(data, f)


def _code(response: Any) -> str:
    return problem_code(response.status_code or 0, response.json)


class Channel(FastHttpUser):
    """The common part: a call that sorts answers into ok, refused and failed."""

    abstract = True
    wait_time = between(0.5, 2.0)

    def call(self, method: str, path: str, name: str, **kwargs: Any) -> tuple[str, Any]:
        """("ok" | "refused" | "failed", body or refusal code)."""
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as r:
            status = r.status_code or 0
            if 200 <= status < 300:
                r.success()
                if status == 204 or not r.content:
                    return "ok", None
                try:
                    return "ok", r.json()
                except Exception:
                    return "ok", r.text
            if 400 <= status < 500:
                code = _code(r)
                if code in EXPECTED:
                    r.success()
                    RECORD.refused(name, code)
                    return "refused", code
                r.failure(f"{status} {code}")
                return "failed", code
            r.failure(f"{status} {_code(r) if status else r.error}")
            return "failed", None

    def drive(self, steps: Walk) -> Outcome:
        """Send each request of a walk (:mod:`loadtest.walk`) with :meth:`call`."""
        try:
            request = next(steps)
            while True:
                verdict, body = self.call(
                    request.method,
                    request.path,
                    request.name,
                    params=request.params,
                    json=request.json,
                    headers=request.headers,
                )
                if verdict == "ok":
                    request = steps.send(Answer("ok", body=body))
                else:
                    request = steps.send(Answer(verdict, code=body))
        except StopIteration as stop:
            return stop.value

    @staticmethod
    def auth(token: str, idempotent: bool = False) -> dict[str, str]:
        headers = {"Authorization": "Bearer " + token}
        if idempotent:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        return headers


def _slot_body(slot: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"], **extra}


class WebPatient(Channel):
    """A patient on the portal or the app: searches, books, looks, cancels, moves."""

    weight = 60

    def on_start(self) -> None:
        self.me = next(_patients)
        self.booked: list[int] = []
        if self.me is None:
            raise RuntimeError("no patients in the cast")

    def _specialty(self) -> str:
        return random.choice(CAST["specialties"])

    @task(10)
    def search(self) -> None:
        params = {"specialty": self._specialty(), "limit": 10}
        if random.random() < 0.3:
            params["clinic"] = self.me["clinic"]
        self.call("GET", "/api/v1/slots", "search", params=params)

    @task(4)
    def nearest_clinics(self) -> None:
        lat, lon = random.uniform(55.57, 55.91), random.uniform(37.37, 37.84)
        params = {"near": f"{lat:.5f},{lon:.5f}", "specialty": self._specialty(), "limit": 5}
        self.call("GET", "/api/v1/clinics", "nearest clinics", params=params)

    @task(6)
    def book(self) -> None:
        params = {"specialty": "therapist", "clinic": self.me["clinic"], "limit": 10}
        outcome = self.drive(
            walk.book(
                self.me["id"],
                self.auth(self.me["token"]),
                lambda: [walk.Request("GET", "/api/v1/slots", "search", params=params)],
                random.choice,
            )
        )
        if outcome.verdict == "ok" and outcome.appointment is not None:
            RECORD.confirmed.add(outcome.appointment["id"])
            self.booked.append(outcome.appointment["id"])

    @task(5)
    def my_appointments(self) -> None:
        self.call(
            "GET",
            f"/api/v1/patients/{self.me['id']}/appointments",
            "my appointments",
            headers=self.auth(self.me["token"]),
        )

    @task(2)
    def cancel(self) -> None:
        if not self.booked:
            return
        appointment = self.booked.pop(0)
        RECORD.unanswered.add(appointment)  # not discarded if the run stops the request
        outcome, _ = self.call(
            "POST",
            f"/api/v1/appointments/{appointment}/cancel",
            "cancel",
            json={"patient_id": self.me["id"]},
            headers=self.auth(self.me["token"]),
        )
        RECORD.unanswered.discard(appointment)
        if outcome == "ok":
            RECORD.released.add(appointment)

    @task(1)
    def reschedule(self) -> None:
        if not self.booked:
            return
        appointment = self.booked[0]
        params = {"specialty": "therapist", "clinic": self.me["clinic"], "limit": 10}
        outcome, slots = self.call("GET", "/api/v1/slots", "search", params=params)
        if outcome != "ok" or not slots:
            return
        body = _slot_body(random.choice(slots), patient_id=self.me["id"])
        RECORD.unanswered.add(appointment)
        outcome, moved = self.call(
            "POST",
            f"/api/v1/appointments/{appointment}/reschedule",
            "reschedule",
            json=body,
            headers=self.auth(self.me["token"], idempotent=True),
        )
        RECORD.unanswered.discard(appointment)
        if outcome == "ok":
            RECORD.released.add(appointment)
            RECORD.confirmed.add(moved["id"])
            self.booked[0] = moved["id"]

    @task(1)
    def waitlist(self) -> None:
        today = city_today()
        body = {
            "specialty": random.choice(CAST["open_specialties"]),
            "from": today.isoformat(),
            "to": (today + timedelta(days=13)).isoformat(),
            "patient_id": self.me["id"],
        }
        outcome, entry = self.call(
            "POST",
            "/api/v1/waitlist",
            "join waitlist",
            json=body,
            headers=self.auth(self.me["token"]),
        )
        if outcome == "ok":
            self.call(
                "POST",
                f"/api/v1/waitlist/{entry['id']}/cancel",
                "leave waitlist",
                json={"patient_id": self.me["id"]},
                headers=self.auth(self.me["token"]),
            )


class PhoneCaller(Channel):
    """A caller walking the IVR webhook: English, policy, birth date, the code the
    demo mode speaks, then books the first therapist time offered."""

    weight = 10
    wait_time = between(1.0, 3.0)

    def _step(self, form: dict[str, str], name: str) -> list[Any] | None:
        with self.client.post("/phone", data=form, name=name, catch_response=True) as r:
            if not 200 <= (r.status_code or 0) < 300:
                r.failure(f"{r.status_code} {_code(r) if r.status_code else r.error}")
                return None
            try:
                verbs = parse_twiml(r.content)
            except Exception as exc:
                r.failure(f"not TwiML: {exc}")
                return None
            r.success()
            return verbs

    @task
    def call_in(self) -> None:
        me = next(_patients)
        call = {"CallSid": "CA" + uuid.uuid4().hex, "From": f"+7999{random.randrange(10**7):07d}"}
        steps = [
            (None, "phone: welcome"),
            ("2", "phone: language"),
            (me["policy"], "phone: policy"),
            (me["birth"], "phone: birth date"),
        ]
        verbs: list[Any] | None = None
        for digits, name in steps:
            verbs = self._step(call | ({"Digits": digits} if digits else {}), name)
            if verbs is None:
                return
        spoken = " ".join(v.text for v in verbs or [] if v.name == "Say")
        match = DEMO_CODE.search(spoken)
        if match is None:
            RECORD.refused("phone: birth date", "phone_no_demo_code")
            return
        code = match.group(1).replace(" ", "")
        for digits, name in (
            (code, "phone: code"),
            ("1", "phone: menu"),
            ("1", "phone: specialty"),
        ):
            verbs = self._step(call | {"Digits": digits}, name)
            if verbs is None:
                return
        verbs = self._step(call | {"Digits": "1"}, "phone: book")
        if verbs is None:
            return
        spoken = " ".join(
            [v.text for v in verbs if v.name == "Say"] + [" ".join(v.says) for v in verbs]
        )
        if "You are booked" in spoken:
            RECORD.phone_bookings += 1
        else:
            RECORD.refused("phone: book", "phone_not_booked")


class KioskPatient(Channel):
    """A patient at the clinic's kiosk: books the next free time at the clinic and,
    when it is within the hour, checks in."""

    weight = 10

    @task
    def arrive(self) -> None:
        me = next(_patients)
        params = {"specialty": "therapist", "clinic": me["clinic"], "limit": 1}
        outcome, slots = self.call("GET", "/api/v1/slots", "kiosk: next time", params=params)
        if outcome != "ok" or not slots:
            return
        starts = datetime.fromisoformat(slots[0]["starts_at"])
        if starts - datetime.now(UTC) > timedelta(minutes=55):
            RECORD.refused("kiosk: next time", "nothing_within_the_hour")
            return
        body = _slot_body(slots[0], patient_id=me["id"], channel="kiosk")
        outcome, appointment = self.call(
            "POST",
            "/api/v1/appointments",
            "kiosk: book",
            json=body,
            headers=self.auth(me["token"], idempotent=True),
        )
        if outcome != "ok":
            return
        RECORD.confirmed.add(appointment["id"])
        self.call(
            "POST",
            f"/api/v1/appointments/{appointment['id']}/check-in",
            "kiosk: check in",
            json={"patient_id": me["id"]},
            headers=self.auth(me["token"]),
        )


class Registrar(Channel):
    """A registrar booking for callers at her clinic's desk."""

    weight = 12

    def on_start(self) -> None:
        self.me = next(_registrars)
        if self.me is None:
            raise RuntimeError("no registrars in the cast")

    @task
    def book_for_caller(self) -> None:
        patient = next(_patients)
        specialty = random.choice(CAST["open_specialties"])
        params = {"specialty": specialty, "clinic": self.me["clinic"], "limit": 10}
        params["channel"] = "registrar"
        outcome, slots = self.call("GET", "/api/v1/slots", "registrar: search", params=params)
        if outcome != "ok" or not slots:
            return
        body = _slot_body(random.choice(slots), patient_id=patient["id"])
        outcome, hold = self.call(
            "POST",
            "/api/v1/holds",
            "registrar: hold",
            json=body,
            headers=self.auth(self.me["token"]),
        )
        if outcome != "ok":
            return
        outcome, appointment = self.call(
            "POST",
            f"/api/v1/holds/{hold['token']}/confirm",
            "registrar: confirm",
            json={"patient_id": patient["id"]},
            headers=self.auth(self.me["token"], idempotent=True),
        )
        if outcome == "ok":
            RECORD.confirmed.add(appointment["id"])


class Doctor(Channel):
    """A doctor through her day: the list, done, no-show, a referral."""

    weight = 8
    wait_time = between(2.0, 5.0)

    def on_start(self) -> None:
        self.me = next(_doctors)
        if self.me is None:
            raise RuntimeError("no doctors in the cast")

    @task
    def work(self) -> None:
        today = city_today().isoformat()
        outcome, day = self.call(
            "GET",
            f"/api/v1/doctors/{self.me['id']}/day",
            "doctor: day",
            params={"date": today},
            headers=self.auth(self.me["token"]),
        )
        if outcome != "ok" or not day:
            return
        now = datetime.now(UTC)
        for entry in day:
            appointment = entry["appointment"]
            starts = datetime.fromisoformat(appointment["starts_at"])
            if appointment["status"] == "arrived":
                self.call(
                    "POST",
                    f"/api/v1/appointments/{appointment['id']}/complete",
                    "doctor: done",
                    headers=self.auth(self.me["token"]),
                )
                if CAST["referral_specialties"] and random.random() < 0.3:
                    body = {
                        "patient_id": appointment["patient_id"],
                        "specialty": random.choice(CAST["referral_specialties"]),
                    }
                    self.call(
                        "POST",
                        "/api/v1/referrals",
                        "doctor: referral",
                        json=body,
                        headers=self.auth(self.me["token"]),
                    )
                return
            if appointment["status"] == "booked" and starts < now - timedelta(minutes=15):
                self.call(
                    "POST",
                    f"/api/v1/appointments/{appointment['id']}/no-show",
                    "doctor: no-show",
                    headers=self.auth(self.me["token"]),
                )
                return


# The raced doctors whose opening day had no free web time left when a patient looked.
_full: set[int] = set()
# Seconds a racing patient takes to pick a time from the list, and to confirm the hold:
# a person at a screen, quick (a bot that clicks within 0.1 s is the stress profile's
# business, not a Monday morning's).
CHOOSING = (0.5, 1.5)


class MondayPatient(Channel):
    """The Monday opening: a patient racing others for a popular doctor's times on the
    day that has just opened; when none of those doctors has a time left, the race is
    over and the shape ends the run (as at the end of its time: locust's reports are
    written the same way)."""

    weight = 1
    wait_time = between(0.1, 0.5)

    def on_start(self) -> None:
        # Each comes to the opened day at a moment of their own within the profile's
        # first seconds (loadtest.profiles.ARRIVING_SECONDS says why).
        shape = self.environment.shape_class
        arriving = getattr(getattr(shape, "profile", None), "arriving", 0.0)
        if arriving:
            gevent.sleep(random.uniform(0.0, arriving))

    @task
    def race(self) -> None:
        racing = [d for d in CAST["popular_doctors"] if d not in _full]
        if not racing:
            RECORD.race_over = True  # the shape ends the run at its next tick
            return
        doctor = random.choice(racing)
        day = datetime.fromisoformat(CAST["opening_day"]).date()
        outcome, slots = self.call(
            "GET", "/api/v1/slots", "monday: doctor's times", params=slots_query(doctor, day, 5)
        )
        if outcome != "ok":
            return
        if not slots:
            _full.add(doctor)
            return
        me = next(_patients)
        body = _slot_body(random.choice(slots[:3]), patient_id=me["id"])
        gevent.sleep(random.uniform(*CHOOSING))  # a person reads the times and picks one
        outcome, hold = self.call(
            "POST", "/api/v1/holds", "monday: hold", json=body, headers=self.auth(me["token"])
        )
        if outcome != "ok":
            return
        gevent.sleep(random.uniform(*CHOOSING))  # ... and presses "confirm"
        outcome, appointment = self.call(
            "POST",
            f"/api/v1/holds/{hold['token']}/confirm",
            "monday: confirm",
            json={"patient_id": me["id"]},
            headers=self.auth(me["token"], idempotent=True),
        )
        if outcome == "ok":
            RECORD.confirmed.add(appointment["id"])


class Shape(LoadTestShape):
    """The profile's shape (``IMIAS_LOAD_PROFILE``), see :mod:`loadtest.profiles`."""

    def __init__(self) -> None:
        super().__init__()
        self.profile = shape_for(os.environ.get("IMIAS_LOAD_PROFILE", "emias-day"))

    def tick(self) -> tuple[int, float] | None:
        if RECORD.race_over:  # monday-opening: every raced doctor's day is full
            return None
        return self.profile.tick(self.get_run_time(), self.runner)

    def report(self) -> dict[str, Any]:
        return self.profile.report()
