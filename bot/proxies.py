"""The proxy the environment names for a server, for aiohttp clients (the Telegram door's
Bot API calls, the OpenAI-compatible reply path).

HTTPS_PROXY for https:// servers, HTTP_PROXY for http:// ones, none for a host NO_PROXY lists:
aiohttp's own reading of them (`get_env_proxy_for_url`), made once per server by the caller
rather than on every request (aiohttp's `trust_env` looks it up in a worker thread each time).
"""

from __future__ import annotations

from aiohttp import BasicAuth
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

Proxy = tuple[URL | None, BasicAuth | None]  # the proxy's URL and its credentials, or none


def env_proxy(url: str) -> Proxy:
    """The proxy the environment names for `url`'s server, or (None, None)."""
    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:  # none, or NO_PROXY names the host
        return None, None
