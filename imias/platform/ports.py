"""Whether a port is taken, before a server is started on it."""

from __future__ import annotations

import errno
import socket


def port_taken(host: str, port: int) -> bool:
    """Whether a socket holds ``host``:``port`` already (a server listening there).

    A bind without ``SO_REUSEPORT`` is refused there even when the holder set it;
    granian does, so a second ``imias serve`` on a port in use would otherwise start
    without a word and the kernel would share the connections between the two. A
    connection in TIME_WAIT holds nothing (``SO_REUSEADDR``). Any other bind error (an
    address not of this machine) is left for the server to report."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False
