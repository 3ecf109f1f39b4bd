"""The portal as an installable app (a progressive web app): its manifest, its icons
(drawn here, so there is no image to keep), and the service worker that keeps the
patient's "my appointments" page readable offline."""

from __future__ import annotations

import struct
import zlib
from functools import cache
from pathlib import Path
from typing import Any

from litestar import Response, get
from litestar.params import FromPath

from imias.channels.portal.common import PORTAL_PUBLIC
from imias.platform.problems import ProblemError

STATIC = Path(__file__).resolve().parent.parent / "static"
THEME = "#0b4f8a"
ICON_SIZES = (192, 512)

MANIFEST = {
    "name": "IMIAS — запись к врачу",
    "short_name": "IMIAS",
    "description": "Запись к врачу в городские поликлиники: мои записи, перенос и отмена.",
    "lang": "ru",
    "start_url": "/appointments",
    "scope": "/",
    "id": "/",
    "display": "standalone",
    "orientation": "portrait",
    "background_color": "#ffffff",
    "theme_color": THEME,
    "icons": [
        *(
            {"src": f"/icons/icon-{n}.png", "sizes": f"{n}x{n}", "type": "image/png"}
            for n in ICON_SIZES
        ),
        {"src": "/icons/icon.svg", "sizes": "any", "type": "image/svg+xml"},
    ],
}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@cache
def icon_png(size: int) -> bytes:
    """A square icon: a white cross on the portal's blue (no logo)."""
    blue, white = bytes.fromhex(THEME[1:]), b"\xff\xff\xff"
    half, arm, bar = size / 2, size * 0.3, size * 0.1
    rows = []
    for y in range(size):
        dy = abs(y + 0.5 - half)
        row = bytearray(b"\x00")  # filter: none
        for x in range(size):
            dx = abs(x + 0.5 - half)
            row += white if (dx < bar and dy < arm) or (dy < bar and dx < arm) else blue
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


@cache
def _static(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@get(
    "/manifest.webmanifest",
    opt=PORTAL_PUBLIC,
    operation_id="portalManifest",
    include_in_schema=False,
)
async def manifest() -> Response[Any]:
    return Response(MANIFEST, media_type="application/manifest+json")


@get("/sw.js", opt=PORTAL_PUBLIC, operation_id="portalServiceWorker", include_in_schema=False)
async def service_worker() -> Response[bytes]:
    """Served from the root, so its scope is the whole portal; never cached by the
    browser, so a new worker is picked up on the next visit."""
    return Response(
        _static("sw.js"),
        media_type="text/javascript; charset=utf-8",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )


@get("/icons/{name:str}", opt=PORTAL_PUBLIC, operation_id="portalIcon", include_in_schema=False)
async def icon(name: FromPath[str]) -> Response[bytes]:
    if name == "icon.svg":
        return Response(_static("icon.svg"), media_type="image/svg+xml")
    for size in ICON_SIZES:
        if name == f"icon-{size}.png":
            return Response(
                icon_png(size),
                media_type="image/png",
                headers={"Cache-Control": "public, max-age=86400"},
            )
    raise ProblemError(404, "not_found", "There is no such icon.")
