"""The client's address for rate limits and the audit log, behind trusted proxies."""

import pytest
from litestar import Litestar, Request
from litestar.datastructures import State

from imias.platform.requests import client_address
from imias.platform.settings import load_settings


def request(peer: str, forwarded: str | None, proxies: str) -> Request:
    settings = load_settings({"IMIAS_TRUSTED_PROXIES": proxies})
    # No logging config, as in the app: Litestar's default would put a handler on the
    # root logger bound to this test's captured stderr, closed by the time later lines
    # come (pgserver's at the end of the run printed "--- Logging error ---").
    app = Litestar(state=State({"settings": settings}), logging_config=None)
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    scope = {
        "type": "http",
        "app": app,
        "litestar_app": app,
        "method": "GET",
        "path": "/",
        "headers": headers,
        "client": (peer, 40000),
        "query_string": b"",
    }
    return Request(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        ("203.0.113.7", None, "", "203.0.113.7"),
        ("203.0.113.7", "198.51.100.1", "", "203.0.113.7"),  # no proxy trusted: ignored
        ("203.0.113.7", "198.51.100.1", "10.0.0.0/8", "203.0.113.7"),  # not from a proxy
        ("10.0.0.2", "198.51.100.1", "10.0.0.0/8", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", "10.0.0.0/8", "198.51.100.1"),
        ("10.0.0.2", "", "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", "not-an-ip", "10.0.0.0/8", "not-an-ip"),
    ],
    ids=["direct", "untrusted-header", "peer-not-proxy", "one-hop", "forged-left", "empty", "junk"],
)
def test_the_nearest_untrusted_hop_is_the_client(peer, forwarded, proxies, expected):
    assert client_address(request(peer, forwarded, proxies)) == expected
