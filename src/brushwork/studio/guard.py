"""What every request meets first: its Host must be one the studio serves (a DNS-rebinding page
cannot reach it), a request that changes something must come from the page's own origin (scheme,
host and port exact; a browser's Sec-Fetch-Site must not say another site), and every answer,
refusals included, carries the security headers. A plain ASGI middleware, so event streams pass
through it untouched."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'",
}
SAFE_METHODS = ("GET", "HEAD")


class Guard:
    def __init__(self, app, hosts: set[str], origins: set[str]):
        self.app, self.hosts, self.origins = app, hosts, origins

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_secured(message):
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        refusal = self.refusal(scope["method"], Headers(scope=scope))
        await (refusal or self.app)(scope, receive, send_secured)

    def refusal(self, method: str, headers: Headers) -> JSONResponse | None:
        host = headers.get("host", "")
        if host not in self.hosts:
            return JSONResponse({"detail": f"this studio does not answer to host {host[:100]!r}"}, status_code=400)
        if method in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            return JSONResponse({"detail": f"requests from {origin[:100]} are not accepted"}, status_code=403)
        if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return JSONResponse({"detail": "requests from another site are not accepted"}, status_code=403)
        return None
