"""Hypothesis settings shared by the suites that generate requests."""

from hypothesis import HealthCheck, settings

# The same examples every run (no database of failures), no deadline (no wall-clock
# assertions), and generated documents may be large.
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
