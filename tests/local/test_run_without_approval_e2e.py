"""`tributary run` (one shot) serves no `tributary approve` and ends with its runs: where the template has
ApprovalTimeoutSeconds, a run whose quality rules fail is quarantined at once instead of waiting for a
decision nobody can give. In a module of its own: two local stacks in one process share moto's state."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.local.conftest import copy_of_the_application
from tests.local.test_approval_e2e import clicks
from tributary.cli import main

pytestmark = pytest.mark.slow


def test_tributary_run_has_nobody_to_approve_and_quarantines_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A one-shot `tributary run` serves no `tributary approve`: its failed gate is not left waiting."""
    root = copy_of_the_application(tmp_path / "once")
    upload = tmp_path / "clicks-bad.jsonl"
    upload.write_bytes(clicks(bad=4))
    started = time.monotonic()
    code = main(
        ["run", str(upload), "--root", str(root), "--ephemeral", "--output", "json", "--timeout", "300"]
    )
    (report,) = json.loads(capsys.readouterr().out)
    assert code == 1 and time.monotonic() - started < 300
    assert (report["status"], report["error"]) == ("QUARANTINED", "Tributary.QualityGateFailed")
    assert report["approval"] is None
    assert not [s for s in report["states"] if s["name"] == "AwaitApproval"]
