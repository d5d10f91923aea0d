"""The OpenAI SDK's client, with the reply path's streamed chat completions sent over aiohttp.

Everything but `stream_chat` (listing models, transcriptions) is the SDK as it comes. A
streamed `chat.completions` request is the hot path: a thousand replies at once, each
asked the moment its message is stored. Through the SDK, building and sending one request
(its options models, an httpx2 Request, the aiohttp transport translating it and the
response back) and reading it (httpx2's byte, text and line decoders over aiohttp's stream)
cost about 1.1 ms of CPU per request, against 0.4 ms for the same request made with aiohttp
directly (benchmarks/streaming.py, where the last of a thousand messages waited over a
second for its model request). `stream_chat` sends that same request itself and keeps the
SDK's behaviour by asking the SDK: which failures to retry and how long to wait
(`_should_retry`, `_calculate_retry_timeout`: 408, 409, 429 and 5xx, `x-should-retry`,
Retry-After), and which error to raise (`_make_status_error_from_response`: RateLimitError,
InternalServerError...; APIConnectionError and APITimeoutError for the connection). As the
SDK's own HTTP client, it goes through the proxy HTTPS_PROXY / HTTP_PROXY names unless
NO_PROXY lists the server (read when the client is made, not again). The body's read
timeout is kept by a `ReadWatch` for all the streams at once, not by aiohttp's timer per piece.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx2
from openai import APIConnectionError, APITimeoutError, AsyncOpenAI
from openai._models import FinalRequestOptions

from bot.providers.read_watch import ReadWatch
from bot.proxies import Proxy, env_proxy

# Local servers (Ollama, vLLM ...) ignore the key, but the SDK insists on one.
NO_KEY = "not-needed"
CHAT_PATH = "/chat/completions"
# As the SDK's own pool (openai._constants.DEFAULT_CONNECTION_LIMITS): up to this many
# requests at once, idle connections kept for KEEPALIVE_S.
MAX_CONNECTIONS = 1000
KEEPALIVE_S = 5.0


def openai_client(
    api_key: str | None, base_url: str | None, timeout_s: float, max_retries: int
) -> OpenAIClient:
    """The client for one server (shared by the models that use it)."""
    return OpenAIClient(
        api_key=api_key or NO_KEY, base_url=base_url, timeout=timeout_s, max_retries=max_retries
    )


class OpenAIClient(AsyncOpenAI):
    """AsyncOpenAI, plus `stream_chat` for the replies (see the module's docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session: aiohttp.ClientSession | None = None
        self._chat_url = str(self.base_url).rstrip("/") + CHAT_PATH
        # The request the SDK's errors name (they are made with one; only its URL is read).
        self.chat_request = httpx2.Request("POST", self._chat_url)
        self._options = FinalRequestOptions(method="post", url=CHAT_PATH)
        # Made once, with the client (at start-up): the SDK's headers (authorization, user
        # agent, platform: its platform check reads files, kept off the event loop's hot
        # path), the timeouts and the proxy.
        found = {**self.auth_headers, **self.default_headers}
        self._headers = {key: value for key, value in found.items() if isinstance(value, str)}
        self._timeout = _aiohttp_timeout(self.timeout)
        self._proxy: Proxy = env_proxy(self._chat_url)
        # The body's read timeout, kept for every stream at once (aiohttp's sock_read still
        # bounds the wait for the headers).
        read_s = self._timeout.sock_read
        self._read_watch = ReadWatch(read_s) if read_s else None

    @property
    def user_agent(self) -> str:
        return super().user_agent.replace(type(self).__name__, AsyncOpenAI.__name__, 1)

    @contextlib.asynccontextmanager
    async def stream_chat(self, body: dict[str, Any]) -> AsyncIterator[AsyncIterator[bytes]]:
        """POST `body` (JSON as the API takes it) to /chat/completions; the response's
        body as it arrives, once it answered 200. Retried and raised as the SDK does."""
        data = json.dumps(body).encode()
        request = self.chat_request
        retries = self.max_retries
        for taken in range(retries + 1):
            left = retries - taken
            try:
                response = await self._post(data, taken)
            except (TimeoutError, aiohttp.ClientError) as error:
                if left > 0:
                    await asyncio.sleep(self._calculate_retry_timeout(left, self._options))
                    continue
                raise _connection_error(error, request) from error
            if response.status < 400:
                break
            failed = httpx2.Response(
                response.status,
                headers=list(response.raw_headers),
                content=await _body_of(response),
                request=request,
            )
            if left > 0 and self._should_retry(failed):
                wait = self._calculate_retry_timeout(left, self._options, failed.headers)
                await asyncio.sleep(wait)
                continue
            raise self._make_status_error_from_response(failed) from None
        try:
            if self._read_watch is None:  # no read timeout at all
                yield _arriving(response.content.iter_any(), request)
            else:
                with self._read_watch.watching(response) as watched:
                    yield _arriving(watched.pieces(), request)
        finally:
            response.release()  # back to the pool; closed instead if not read to its end

    async def _post(self, data: bytes, retries_taken: int) -> aiohttp.ClientResponse:
        headers = self._headers | {"X-Stainless-Retry-Count": str(retries_taken)}
        proxy, proxy_auth = self._proxy
        return await self._aiohttp().post(
            self._chat_url,
            data=data,
            headers=headers,
            timeout=self._timeout,
            proxy=proxy,
            proxy_auth=proxy_auth,
        )

    def _aiohttp(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def close(self) -> None:
        if self._read_watch is not None:
            await self._read_watch.close()
        if self._session is not None:
            await self._session.close()
        await super().close()


def _aiohttp_timeout(timeout: object) -> aiohttp.ClientTimeout:
    # As the SDK's aiohttp transport maps its timeouts: connect, read (between two pieces of
    # the stream), pool (waiting for a free connection).
    if isinstance(timeout, int | float):
        return aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout, connect=timeout)
    if isinstance(timeout, httpx2.Timeout):
        return aiohttp.ClientTimeout(
            sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
        )
    return aiohttp.ClientTimeout()


async def _body_of(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    except aiohttp.ClientError:
        return b""
    finally:
        response.release()


async def _arriving(pieces: AsyncIterator[bytes], request: httpx2.Request) -> AsyncIterator[bytes]:
    """The response's body, whatever has arrived each time it is read: one wake-up of the
    reader for all the events that came meanwhile (a busy server reads several at once),
    not one for every line. A connection that breaks is the SDK's APIConnectionError
    (APITimeoutError when the server stops sending)."""
    try:
        async for data in pieces:
            yield data
    except (TimeoutError, aiohttp.ClientError) as error:
        raise _connection_error(error, request) from error


def _connection_error(error: BaseException, request: httpx2.Request) -> APIConnectionError:
    if isinstance(error, TimeoutError):
        return APITimeoutError(request=request)
    return APIConnectionError(request=request)
