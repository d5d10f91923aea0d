"""The web page's forms as a browser fills them: CSRF token first, then the post."""

from __future__ import annotations

import re

import httpx

from tests.support.settings import PASSWORD


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token of the form on `page`."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def post_form(
    http: httpx.AsyncClient, page_path: str, target: str, **fields: str
) -> httpx.Response:
    """Load a page (for its CSRF token), then post one of its forms to `target`."""
    page = await http.get(page_path)
    return await http.post(target, data={"csrf_token": csrf_of(page), **fields})


async def register_on_the_page(http: httpx.AsyncClient, username: str = "alice") -> httpx.Response:
    """Register `username` (with PASSWORD) through the /register form."""
    return await post_form(
        http, "/register", "/register",
        username=username, password=PASSWORD, password_repeat=PASSWORD,
    )  # fmt: skip
