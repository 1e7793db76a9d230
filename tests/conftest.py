"""Settings every test folder shares.

Hypothesis' per-example deadline and its "too slow" health check are wall-clock limits: on a shared,
loaded machine they fail tests whose results are right (a 680 ms example against the 200 ms deadline
at load 8). The project measures speed in benchmarks, never in tests, so both are off everywhere."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("tributary", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tributary")
