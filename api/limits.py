"""Requests that carry a body: authenticated before a byte of it is read, and capped.

FastAPI reads and parses a request's body before it resolves the route's dependencies, so
authentication in a dependency comes too late: a 50 MB body without a token would be held
in memory before the 401. This pure ASGI middleware runs first. For a request with a body
(a Content-Length other than 0, or a Transfer-Encoding) it

1. takes the `Authorization: Bearer …` token and authenticates it (in a worker thread: it
   reads the database); without a token, or with one that does not authenticate, it
   answers 401 problem+json and never reads the body;
2. answers 413 problem+json when the declared Content-Length exceeds MAX_BODY_BYTES;
3. counts the bytes of the body as the route reads it (chunked bodies declare no length)
   and stops the request with 413 as soon as the count passes MAX_BODY_BYTES.

On a read-only deployment (an opened archive, ADR 0014) every request but GET, HEAD and
OPTIONS, with a body or without, is authenticated the same way and then answered 403
`read_only` — never read, validated or routed.

The session it authenticated is kept in the request's state (SESSION_KEY); the route's
dependency (api.deps) uses it rather than authenticating the same token twice. Requests
without a body go straight to the routes, whose dependency authenticates them.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import integrity_alarm, malformed, not_authenticated, read_only, too_large
from application.integrity import IntegrityAlarm
from application.service import Unauthenticated

# The largest legal request is the lesson sheet (PUT /lessons/sheet, api/schemas.py):
# topic 500 + homework 2,000 characters, 60 attendance and 200 mark entries. Written in
# the costliest legal way — every character an astral code point sent as a \uXXXX\uXXXX
# escape (12 bytes), every integer 19 digits, pretty-printed with a 4-space indent — it
# is about 74 KB:
#   texts 2,500 × 12 = 30,000; 200 marks («не зачтено» escaped) ≈ 33,200;
#   60 attendance entries ≈ 9,800; the rest ≈ 1,200.
# Compact UTF-8 the same sheet is about 34 KB. The next largest, a correction application
# (3,080 characters of text), is 37 KB at worst. 128 KiB = 131,072 bytes leaves 1.75× the
# worst case. tests/api/test_limits.py builds the costliest instance of every operation's
# body from the OpenAPI schemas and checks it fits (an unbounded string or list fails it).
MAX_BODY_BYTES = 128 * 1024
SESSION_KEY = "ejournal_session"
READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """Raised from the counting receive; FastAPI passes HTTP exceptions through, and the
    problem handlers (api.problems) answer 413 problem+json."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Тело запроса больше {limit} байт.")


def bearer_token(headers: Headers) -> str | None:
    """The token as HTTPBearer (api.deps) reads it: `Bearer <token>`, the scheme in any
    case."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def carries_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") != "0"


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        # A read-only deployment (an opened archive) refuses every write as such, before
        # its body is read or validated (with or without one), once the token is known.
        writes_to_read_only = (scope["method"] not in READING_METHODS
                               and scope["app"].state.ejournal.read_only)
        if not carries_body(headers) and not writes_to_read_only:
            await self.app(scope, receive, send)
            return
        token = bearer_token(headers)
        if token is None:
            await self.refuse(scope, receive, send, 401)
            return
        try:
            session = await run_in_threadpool(scope["app"].state.ejournal.authenticate, token)
        except Unauthenticated:
            await self.refuse(scope, receive, send, 401)
            return
        except IntegrityAlarm as alarm:
            response = integrity_alarm(alarm)
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        if writes_to_read_only:
            await self.refuse(scope, receive, send, 403)
            return
        scope.setdefault("state", {})[SESSION_KEY] = (token, session)
        declared = headers.get("content-length")
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            await self.refuse(scope, receive, send, 400)
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self.refuse(scope, receive, send, 413)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await self.refuse(scope, receive, send, 413)

    async def refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        """Answers without reading the body, and closes the connection so that the client
        stops sending it."""
        if status == 401:
            response = not_authenticated()
        elif status == 413:
            response = too_large(self.max_bytes)
        elif status == 403:
            response = read_only()
        else:
            response = malformed("Неверный заголовок Content-Length.")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
