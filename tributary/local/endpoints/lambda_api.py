"""The Lambda API's GetFunctionConfiguration for the functions of a local stack.

moto's Lambda backend knows nothing of the functions the local runtime runs, and function code makes one
Lambda API call: run_cost reads the memory each invoked function was deployed with. This endpoint answers
that call (`GET /2015-03-31/functions/<name or ARN>/configuration`) from the provisioned template's
properties; every other Lambda request gets a clear refusal. Child processes reach it through
AWS_ENDPOINT_URL_LAMBDA.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tributary.serving import serve_http

_CONFIGURATION = re.compile(r"/2015-03-31/functions/([^/]+)/configuration/?")

Describe = Callable[[str], Mapping[str, Any] | None]  # name or ARN → GetFunctionConfiguration's answer


def function_configuration(
    name: str, arn: str, properties: Mapping[str, Any], *, logical_id: str = ""
) -> dict[str, Any]:
    """GetFunctionConfiguration's answer for a provisioned AWS::Lambda::Function's properties."""
    return {
        "FunctionName": name,
        "FunctionArn": arn,
        "Runtime": properties.get("Runtime", ""),
        "Handler": properties.get("Handler", ""),
        "MemorySize": int(properties.get("MemorySize", 128)),
        "Timeout": int(properties.get("Timeout", 3)),
        "Architectures": list(properties.get("Architectures") or ["x86_64"]),
        "EphemeralStorage": {"Size": int((properties.get("EphemeralStorage") or {}).get("Size", 512))},
        "Description": properties.get("Description", "") or logical_id,
        "State": "Active",
        "PackageType": "Zip",
    }


def serve_lambda_api(describe: Describe, port: int = 0) -> ThreadingHTTPServer:
    class LambdaApi(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, document: Mapping[str, Any], error: str | None = None) -> None:
            body = json.dumps(document, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            match = _CONFIGURATION.fullmatch(urllib.parse.urlsplit(self.path).path)
            if match is None:
                self._refuse()
                return
            name = urllib.parse.unquote(match.group(1))
            found = describe(name)
            if found is None:
                self._send(
                    404,
                    {"Type": "User", "message": f"Function not found: {name}"},
                    "ResourceNotFoundException",
                )
                return
            self._send(200, found)

        def _refuse(self) -> None:
            message = (
                "the local stack's Lambda API answers GetFunctionConfiguration only, "
                f"not {self.command} {self.path}"
            )
            self._send(400, {"Type": "User", "message": message}, "InvalidRequestContentException")

        do_POST = do_PUT = do_DELETE = _refuse

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return serve_http(LambdaApi, port, name="lambda-api")
