"""Helpers of the staff pages' tests (imported as ``staffpages``): a form's hidden
values and a staff sign-in through the page."""

from __future__ import annotations

import html
import re

from imias.citygen.seed import DEMO_PASSWORD


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} in the page"
    return html.unescape(match.group(1))


async def sign_in(client, path: str, username: str, password: str = DEMO_PASSWORD):
    """Sign in on ``path`` (e.g. /registrar); the answer and the page's CSRF value."""
    start = await client.get(path)
    assert start.status_code == 200
    csrf = hidden(start.text, "csrf")
    form = {"csrf": csrf, "username": username, "password": password}
    answer = await client.post(f"{path}/sign-in", data=form, follow_redirects=False)
    return answer, csrf
