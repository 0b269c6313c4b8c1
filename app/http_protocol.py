"""uvicorn's httptools protocol with the two bounds uvicorn lacks against slow or bloated
clients (`books serve` names it as uvicorn's `http`):

- a request line and headers larger than MAX_HEADER_BYTES are answered 431, whether they come
  in one read (counted once complete) or trickle in (counted as bytes received while
  incomplete, so the parser never buffers more than that plus one read);
- a request not received whole (head and body) within REQUEST_TIMEOUT_SECONDS of its first
  byte, or of the connection opening, is answered 408 and the connection closed, so a client
  holding half-sent requests cannot hold connections (and MAX_CONNECTIONS) forever.

The limits come from the process's settings (the environment), as in every uvicorn process
`books serve` starts. Idle keep-alive connections stay uvicorn's (KEEP_ALIVE_SECONDS).
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from service.settings import get_settings


class HeadTooLarge(Exception):
    """Raised inside the parser's callback to stop parsing a request whose head is too large."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_header_bytes = settings.max_header_bytes
        self.request_timeout = settings.request_timeout_seconds
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = True
        self._head_received = 0  # bytes read while the head was incomplete (an upper bound)
        self._head_size = 0  # the parsed head: request target, names and values
        self._refusal: tuple[int, str] | None = None

    # --- the request deadline ----------------------------------------------------------------

    def _start_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if cycle is not None and not cycle.more_body:
            return  # the request was received; its response is the app's business
        if cycle is not None and cycle.response_started:
            self.transport.close()
            return
        if cycle is not None:
            cycle.disconnected = True  # the app's receive() sees a disconnect, its send nothing
        self.logger.info("request not received within %s s: 408", self.request_timeout)
        self._refuse(408, "request not received in time")

    # --- the head size --------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` with `message` and close the connection, outside any ASGI cycle."""
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        body = message.encode()
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        if not self.transport.is_closing():
            self.transport.write(b"".join(content))
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error; a head refused as too large is one too."""
        if self._refusal is not None:
            self._refuse(*self._refusal)
        else:
            super().send_400_response(msg)

    def _head_too_large(self) -> None:
        self.logger.info("request head over %d bytes: 431", self.max_header_bytes)
        self._refusal = (431, f"request line and headers over {self.max_header_bytes} bytes")

    # --- uvicorn's hooks ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_received += len(data)
            if self._head_received > self.max_header_bytes:
                self._head_too_large()
                assert self._refusal is not None
                self._refuse(*self._refusal)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_received = 0
        self._head_size = 0
        self._start_deadline()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_size > self.max_header_bytes:
            self._head_too_large()
            raise HeadTooLarge  # the parser stops; uvicorn calls send_400_response
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._stop_deadline()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop_deadline()  # the WebSocket protocol takes the connection over
        super().handle_websocket_upgrade()
