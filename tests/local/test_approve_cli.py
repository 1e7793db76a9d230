"""`tributary approve|refuse RUN --reason TEXT --url URL`: the decision POSTed to the approval function's
URL, signed with SigV4 for AuthType AWS_IAM (checked by signing the received request again with the
same credentials), and the function's answer printed; a refusal by the function is exit code 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tributary.cli import main
from tributary.serving import serve_http, stop_serving, url_of

RUN_ID = "clicks-20261124T101500Z-3f2a9c1b7d"
KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


class FunctionUrl:
    """A stand-in for the function URL: records each request and answers what `answer` says."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer: tuple[int, dict[str, Any]] = (200, {})


@pytest.fixture
def function_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FunctionUrl]]:
    for name, value in {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    seen = FunctionUrl()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.requests.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
            status, answer = seen.answer
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = serve_http(Handler, name="function-url")
    try:
        yield url_of(server) + "/", seen
    finally:
        stop_serving(server)


def signed_again(url: str, request: dict[str, Any]) -> str:
    """The Authorization header botocore computes for the received request, with the same credentials,
    date and signed headers: equal to the received one only if the CLI signed what it sent."""
    headers = {k: v for k, v in request["headers"].items() if k.lower() in ("content-type", "x-amz-date")}
    again = AWSRequest(method="POST", url=url, data=request["body"], headers=headers)
    auth = SigV4Auth(Credentials(KEY, SECRET), "lambda", "eu-west-1")
    auth._timestamp = lambda: request["headers"]["X-Amz-Date"]  # type: ignore[method-assign]
    auth.add_auth(again)
    return str(again.headers["Authorization"])


@pytest.mark.parametrize("decision", ["approve", "refuse"])
def test_a_decision_is_posted_signed_for_aws_iam(
    function_url: tuple[str, FunctionUrl], capsys: pytest.CaptureFixture[str], decision: str
) -> None:
    url, seen = function_url
    caller = "arn:aws:iam::123456789012:user/data-steward"
    seen.answer = (
        200,
        {
            "run_id": RUN_ID,
            "decision": decision,
            "decided_by": caller,
            "decided_at": "2026-11-24T11:00:00Z",
            "reason": "known defect",
        },
    )
    args = [decision, RUN_ID, "--reason", "known defect", "--url", url, "--region", "eu-west-1"]
    assert main(args) == 0
    (request,) = seen.requests
    assert json.loads(request["body"]) == {"run_id": RUN_ID, "decision": decision, "reason": "known defect"}
    authorization = request["headers"]["Authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={KEY}/")
    assert "/eu-west-1/lambda/aws4_request" in authorization
    assert authorization == signed_again(url, request)
    assert authorization != signed_again(url, {**request, "body": b"{}"})  # the check sees a changed body
    verb = "approved" if decision == "approve" else "refused"
    assert f"{RUN_ID}: {verb} by {caller} at 2026-11-24T11:00:00Z: known defect" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("status", "answer", "says"),
    [
        (409, {"message": f"run {RUN_ID} is SUCCEEDED, not AWAITING_APPROVAL"}, "is SUCCEEDED"),
        (403, {"Message": "Forbidden"}, "Forbidden"),  # IAM refused the signer (no lambda:InvokeFunctionUrl)
        (410, {"message": "too late, the decision window closed"}, "too late"),
    ],
)
def test_a_refusal_by_the_function_or_by_iam_is_exit_code_one(
    function_url: tuple[str, FunctionUrl],
    capsys: pytest.CaptureFixture[str],
    status: int,
    answer: dict[str, Any],
    says: str,
) -> None:
    url, seen = function_url
    seen.answer = (status, answer)
    assert main(["approve", RUN_ID, "--reason", "r", "--url", url, "--region", "eu-west-1"]) == 1
    err = capsys.readouterr().err
    assert f"not approved ({status})" in err and says in err


def test_the_region_comes_from_the_function_url_and_a_reason_is_required(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["approve", RUN_ID, "--reason", "  ", "--url", "https://x.lambda-url.eu-west-1.on.aws/"]) == 2
    assert "--reason must say why" in capsys.readouterr().err
