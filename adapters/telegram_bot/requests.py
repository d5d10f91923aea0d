"""Bot API calls over aiohttp: python-telegram-bot's request seam, on aiohttp's pool."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.proxies import Proxy, env_proxy

# Telegram takes about 30 messages a second from a bot: 16 calls at once are plenty. The
# others wait in aiohttp's connector, first come first served, for as long as it takes.
BOT_API_CONNECTIONS = 16
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 5.0


class BotApiRequest(BaseRequest):
    """python-telegram-bot's `BaseRequest` on an aiohttp session (aiohttp comes with
    discord.py).

    PTB's own HTTPXRequest goes through httpcore, whose pool looks at every connection each
    time it hands one out or takes one back, asking each idle one whether its socket is still
    readable (a poll and a getpeername call apiece): with a flood of updates that was a third
    of the door's CPU (benchmarks/telegram.py). Errors map as HTTPXRequest maps them: a
    timeout is TimedOut, anything else on the way NetworkError; PTB reads the status.
    Proxies come from the environment (HTTPS_PROXY, NO_PROXY), as with httpx: read once per
    server, not per call (aiohttp's `trust_env` looks them up, and ~/.netrc, on a worker
    thread for every request: two thread hops a call).
    """

    def __init__(
        self,
        size: int = BOT_API_CONNECTIONS,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.size = size
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._default_timeout = self._timeout(BaseRequest.DEFAULT_NONE, BaseRequest.DEFAULT_NONE)
        # scheme://host:port -> the proxy for it (or none), from the environment.
        self._proxies: dict[str, Proxy] = {}

    @property
    def read_timeout(self) -> float | None:
        return self.read_timeout_s

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One call: the status and the body."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This BotApiRequest is not initialized!")
        if read_timeout is connect_timeout is BaseRequest.DEFAULT_NONE:
            timeout = self._default_timeout
        else:
            timeout = self._timeout(read_timeout, connect_timeout)
        data, headers = _body(request_data)
        proxy, proxy_auth = self._proxy_for(url)
        try:
            async with self._session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout,
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's timeouts are TimeoutErrors
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error

    def _timeout(self, read_timeout: Any, connect_timeout: Any) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None,
            connect=None,  # waiting for a free connection: as long as the others take
            sock_connect=_given(connect_timeout, self.connect_timeout_s),
            sock_read=_given(read_timeout, self.read_timeout_s),
        )

    def _proxy_for(self, url: str) -> Proxy:
        """The proxy the environment names for `url`'s server (HTTPS_PROXY, NO_PROXY)."""
        end = url.find("/", url.find("//") + 2)
        origin = url if end < 0 else url[:end]
        if origin not in self._proxies:
            self._proxies[origin] = env_proxy(origin)
        return self._proxies[origin]


def _given(value: Any, default: float) -> float | None:
    """A timeout PTB passed (None: none at all), or ours when it passed its default."""
    if isinstance(value, type(BaseRequest.DEFAULT_NONE)):
        return default
    return None if value is None else float(value)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _body(
    request_data: RequestData | None,
) -> tuple[aiohttp.FormData | bytes | None, dict[str, str] | None]:
    """Form fields as HTTPXRequest sends them (urlencoded, encoded here: aiohttp's FormData
    builds a multipart writer even for plain fields), with files as multipart parts; and
    the content type to send."""
    if request_data is None:
        return None, None
    fields = request_data.json_parameters
    files = request_data.multipart_data
    if not files:
        return (urlencode(fields).encode(), FORM) if fields else (None, None)
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, part in files.items():
        filename, content, mime = part
        form.add_field(name, content, filename=filename, content_type=mime)
    return form, None
