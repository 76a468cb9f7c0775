"""What one request may ask of the studio, and a guard that turns oversized requests away early."""

from __future__ import annotations

import json

MAX_IMAGES = 256  # images in one grid
MAX_FRAMES = 64  # frames in one interpolation
MAX_PIXELS = MAX_IMAGES * 64 * 64  # image pixels in one answer: 256 images at the presets' largest size
MAX_SEED = 2**32 - 1  # seeds stay exact as JavaScript numbers
MAX_URL = 2048  # characters of path, and of query string
MAX_HEADERS = 16 * 1024  # bytes of request headers (browsers send well under 2 KiB)
MAX_BODY = 4096  # only the start and resume forms have a body, of a few hundred bytes


def short(value: object, limit: int = 40) -> str:
    """A request's value quoted for an error message, cut short: answers never echo kilobytes back."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class RequestLimits:
    """ASGI middleware: a too-long URL gets 414, too many header bytes 431 and a request body 413, before
    any routing (uvicorn's own limits apply only to requests that arrive in pieces)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            problem = None
            if len(scope.get("raw_path") or scope["path"]) > MAX_URL:
                problem = 414, f"the path is longer than {MAX_URL} characters"
            elif len(scope.get("query_string", b"")) > MAX_URL:
                problem = 414, f"the query string is longer than {MAX_URL} characters"
            elif sum(len(k) + len(v) for k, v in scope.get("headers", ())) > MAX_HEADERS:
                problem = 431, f"the request headers are longer than {MAX_HEADERS} bytes"
            else:
                headers = dict(scope.get("headers", ()))
                length = headers.get(b"content-length", b"0")
                if not length.isdigit() or int(length) > MAX_BODY or b"chunked" in headers.get(
                        b"transfer-encoding", b""):
                    problem = 413, f"the request body is longer than {MAX_BODY} bytes, or sent in chunks"
            if problem:
                await _reject(send, *problem)
                return
        await self.app(scope, receive, send)


async def _reject(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
