"""``imias phone``: a call played in the terminal against a running server.

It does what a telephony gateway does: posts the call's id, the calling number and
the typed digits to the webhook, prints what ``<Say>`` would speak, reads the digits of
each ``<Gather>`` from standard input (an empty line is silence, the end of input
hangs up), follows ``<Redirect>`` and stops at ``<Dial>`` or ``<Hangup>``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlencode, urljoin

from imias.channels.phone.api import SIGNATURE_HEADER, signature
from imias.channels.phone.flow import new_call_id
from imias.channels.phone.twiml import parse

MAX_STEPS = 500


def play(
    base_url: str,
    caller: str,
    *,
    read: Callable[[], str | None],
    write: Callable[[str], None],
    secret: str | None = None,
    call_id: str | None = None,
) -> int:
    """Play one call; 0 when it ended with a transfer or a hang-up."""
    call_id = call_id or new_call_id()
    url = urljoin(base_url, "/phone")
    digits: str | None = None
    for _ in range(MAX_STEPS):
        form = {"CallSid": call_id, "From": caller}
        if digits is not None:
            form["Digits"] = digits
        request = urllib.request.Request(url, data=urlencode(form).encode(), method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if secret:
            request.add_header(SIGNATURE_HEADER, signature(secret, url, form))
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                document = response.read()
        except urllib.error.HTTPError as exc:
            write(f"[the webhook answered {exc.code}: {exc.read().decode(errors='replace')}]")
            return 1
        digits = None
        for verb in parse(document):
            if verb.name == "Say":
                write(verb.text)
            elif verb.name == "Gather":
                for text in verb.says:
                    write(text)
                typed = read()
                if typed is None:
                    write("[hang up]")
                    return 0
                # As a gateway does: the finishing key ends the input and is not sent.
                finish = verb.attrs.get("finishOnKey", "#")
                typed = typed.strip()
                if finish and finish in typed:
                    typed = typed.split(finish, 1)[0]
                if typed:
                    digits = typed
                    url = urljoin(url, verb.attrs.get("action", "/phone"))
                    break
            elif verb.name == "Redirect":
                url = urljoin(url, verb.text or "/phone")
                break
            elif verb.name == "Dial":
                write(f"[transferred to {verb.text}]")
                return 0
            elif verb.name == "Hangup":
                write("[the call ended]")
                return 0
        else:
            write("[the call ended]")
            return 0
    write("[too many steps]")
    return 1
