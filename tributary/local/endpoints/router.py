"""One endpoint for every local service (`tributary up`, port 4566 by default): each request is passed
on to the server of the service it is for, so `AWS_ENDPOINT_URL` alone is enough for boto3 and the
AWS CLI.

The service is the one the request is signed for: the credential scope of SigV4
(`Credential=<key>/<date>/<region>/<service>/aws4_request`, in the Authorization header or, for a
presigned URL, in `X-Amz-Credential`); failing that, the JSON protocols' `X-Amz-Target` prefix.
Everything else (unsigned requests included) goes to moto, which serves every service it knows.
"""

from __future__ import annotations

import http.client
import re
import urllib.parse
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tributary.serving import serve_http

# Signing name (credential scope) → the name of a route of the endpoint.
SIGNING_NAMES = {"states": "SFN", "athena": "ATHENA", "glue": "GLUE", "lambda": "LAMBDA"}
TARGET_PREFIXES = {"AWSStepFunctions.": "SFN", "AmazonAthena.": "ATHENA", "AWSGlue.": "GLUE"}
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
# Headers that belong to one connection, not to the request (RFC 9110, 7.6.1).
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}

_NOT_RELAYED = _HOP_BY_HOP | {"content-length", "server", "date"}  # the relay sets its own


def service_of(headers: Any, path: str) -> str | None:
    """The route a request is for (a value of SIGNING_NAMES), or None for moto; `headers` is a
    mapping or the request's `http.client` headers."""
    authorization = headers.get("Authorization") or ""
    match = _SCOPE.search(authorization)
    if match is None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        credential = (query.get("X-Amz-Credential") or [""])[0]
        match = _SCOPE.search(f"Credential={credential}")
    if match is not None:
        return SIGNING_NAMES.get(match.group(1))
    target = headers.get("X-Amz-Target") or ""
    return next((route for prefix, route in TARGET_PREFIXES.items() if target.startswith(prefix)), None)


def serve_endpoint(default_url: str, routes: Mapping[str, str], port: int = 0) -> ThreadingHTTPServer:
    """Serve on `port`, passing each request on to `routes[service_of(request)]`, else `default_url`.

    Routes are looked up per request: a service may be added after the endpoint starts."""

    class Router(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            route = service_of(self.headers, self.path)
            target = urllib.parse.urlsplit(routes.get(route, default_url) if route else default_url)
            body = self._body()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if body is not None:
                headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
                headers["Content-Length"] = str(len(body))
            connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=900)
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in _NOT_RELAYED:
                        self.send_header(key, value)
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            except OSError as exc:
                message = f"the local {route or 'AWS'} endpoint does not answer: {exc}".encode()
                self.send_response(502)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                self.wfile.write(message)
            finally:
                connection.close()

        def _body(self) -> bytes | None:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = self.headers.get("Content-Length")
            return self.rfile.read(int(length)) if length else None

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _relay

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return serve_http(Router, port, "endpoint")
