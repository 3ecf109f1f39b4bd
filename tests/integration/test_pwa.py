"""The portal is installable: its manifest names icons that are served, and its service
worker is served from the root with a script's content type, so its scope is the
portal, and it keeps the "my appointments", "prescriptions" and "certificates" pages."""

from __future__ import annotations

import struct

import pytest
from signin import app_client


@pytest.fixture(scope="module")
async def client(database_url, redis_url):
    async with app_client(database_url, redis_url) as c:
        yield c


async def test_the_manifest_makes_the_portal_installable(client):
    answer = await client.get("/manifest.webmanifest")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/manifest+json")
    manifest = answer.json()
    assert manifest["name"] and manifest["short_name"] == "IMIAS"
    assert manifest["display"] == "standalone" and manifest["lang"] == "ru"
    assert manifest["scope"] == "/" and manifest["start_url"].startswith(manifest["scope"])
    assert manifest["theme_color"].startswith("#") and manifest["background_color"]
    sizes = {i["sizes"] for i in manifest["icons"] if i["type"] == "image/png"}
    assert {"192x192", "512x512"} <= sizes


@pytest.mark.parametrize("size", [192, 512], ids=["192", "512"])
async def test_each_png_icon_is_served_at_its_size(client, size):
    manifest = (await client.get("/manifest.webmanifest")).json()
    (src,) = [i["src"] for i in manifest["icons"] if i["sizes"] == f"{size}x{size}"]
    answer = await client.get(src)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    png = answer.content
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (size, size)


async def test_the_svg_icon_and_an_unknown_icon(client):
    svg = await client.get("/icons/icon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert (await client.get("/icons/logo.png")).status_code == 404


async def test_the_service_worker_is_a_script_of_the_whole_portal(client):
    answer = await client.get("/sw.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/"
    assert answer.headers["cache-control"] == "no-cache"
    assert 'const KEPT = ["/appointments", "/prescriptions", "/certificates"];' in answer.text
    assert 'const CACHE = "imias-portal-v3";' in answer.text  # a new list, a new cache
    # It clears only its own older copies, never the officer's page's (/verify).
    assert 'k.startsWith("imias-portal-") && k !== CACHE' in answer.text
    assert 'addEventListener("fetch"' in answer.text


async def test_portal_pages_link_the_manifest_and_register_the_worker(client):
    page = await client.get("/")
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page.text
    assert 'navigator.serviceWorker.register("/sw.js", { scope: "/" })' in page.text


async def test_signing_out_clears_what_the_browser_kept(client):
    start = await client.get("/")
    csrf = start.cookies.get("imias_csrf") or client.cookies.get("imias_csrf")
    out = await client.post("/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["clear-site-data"] == '"cache", "storage"'
