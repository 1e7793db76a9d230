"""Express workflow prices (the EXPRESS children of ValidateEachObject): per request and per GB-second,
duration rounded up to 100 ms, memory in 64 MB chunks (aws.amazon.com/step-functions/pricing/)."""

from __future__ import annotations

import pytest
from etl_common.cost import US_EAST_1, step_functions_cost, step_functions_express_cost


def test_express_bills_requests_and_duration_in_100_ms_and_64_mb_steps() -> None:
    assert US_EAST_1.step_functions_express_request == pytest.approx(1.00 / 1_000_000)
    assert US_EAST_1.step_functions_express_gb_second == pytest.approx(0.06 / 3600)
    one = 1e-6 + 0.1 * (64 / 1024) * 0.06 / 3600
    assert step_functions_express_cost(1, 1) == pytest.approx(one)
    assert step_functions_express_cost(1, 100) == pytest.approx(one)
    assert step_functions_express_cost(1, 101) == pytest.approx(1e-6 + 0.2 * (64 / 1024) * 0.06 / 3600)
    assert step_functions_express_cost(1, 100, memory_mb=65) == pytest.approx(
        1e-6 + 0.1 * (128 / 1024) * 0.06 / 3600
    )
    assert step_functions_express_cost(1000, 100) == pytest.approx(1000 * one)


def test_a_thousand_one_state_children_cost_less_as_express_than_as_standard() -> None:
    # A one-Task child of a Standard distributed Map: 2 transitions (Start + the Task) per child; an
    # Express child of one second: one request and 1 s x 64 MB.
    standard = step_functions_cost(2 * 1000)
    express = step_functions_express_cost(1000, 1000)
    assert express < standard / 10


def test_negative_amounts_are_refused() -> None:
    with pytest.raises(ValueError, match="duration_ms must be a number >= 0"):
        step_functions_express_cost(1, -1)
