"""Clock estimation from simulated probes with known offset, drift and delays."""

from __future__ import annotations

import random

import pytest

from cmp.core.clocksync import ClockEstimator, Probe, Slew


def probe(local_send: float, up: float, down: float, offset: float, drift: float = 0.0) -> Probe:
    """A probe sent at ``local_send`` whose legs took ``up`` and ``down`` ms."""
    daemon_at = lambda local: local + offset + drift * local  # noqa: E731
    t1 = daemon_at(local_send + up)
    t2 = t1 + 0.05  # the daemon's own turnaround
    t3 = local_send + up + 0.05 + down
    return Probe(local_send, t1, t2, t3)


def test_one_symmetric_probe_is_exact() -> None:
    p = probe(1000.0, 3.0, 3.0, offset=5_000.0)
    assert p.offset == pytest.approx(5_000.0)
    assert p.delay == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("offset", "jitter_ms", "tolerance_ms"),
    [(1.7e12, 0.2, 0.1), (-250.0, 5.0, 1.0), (33.3, 20.0, 2.5)],
)
def test_lowest_delay_probes_win_over_jitter(
    offset: float, jitter_ms: float, tolerance_ms: float
) -> None:
    rng = random.Random(7)
    estimator = ClockEstimator()
    for i in range(64):
        # Each leg has a 1 ms floor plus one-sided random queueing delay.
        up, down = 1 + rng.expovariate(1 / jitter_ms), 1 + rng.expovariate(1 / jitter_ms)
        estimator.add(probe(i * 100.0, up, down, offset))
    estimate = estimator.estimate
    assert estimate is not None
    assert estimate.offset_ms == pytest.approx(offset, abs=tolerance_ms)
    assert estimate.to_daemon(5_000.0) == pytest.approx(5_000.0 + offset, abs=tolerance_ms)


def test_drift_is_followed() -> None:
    drift = 200e-6  # the daemon's clock gains 200 ppm on the follower's
    estimator = ClockEstimator(drift_min_span_ms=10_000)
    for i in range(120):
        estimator.add(probe(i * 5_000.0, 2.0, 2.0, offset=10.0, drift=drift))
    estimate = estimator.estimate
    assert estimate is not None
    assert estimate.drift == pytest.approx(drift, rel=1e-3)
    later = 700_000.0
    assert estimate.to_daemon(later) == pytest.approx(later + 10.0 + drift * later, abs=0.01)
    assert estimate.to_local(estimate.to_daemon(later)) == pytest.approx(later)


def test_old_probes_leave_the_window() -> None:
    estimator = ClockEstimator(window_ms=10_000, keep=100)
    for i in range(10):
        estimator.add(probe(i * 100.0, 1.0, 1.0, offset=50.0))
    for i in range(10):
        estimator.add(probe(60_000 + i * 100.0, 1.0, 1.0, offset=80.0))
    assert len(estimator) == 10
    estimate = estimator.estimate
    assert estimate is not None and estimate.offset_ms == pytest.approx(80.0)


def test_impossible_probes_are_ignored() -> None:
    estimator = ClockEstimator()
    estimator.add(Probe(10.0, 100.0, 200.0, 20.0))  # daemon took longer than the trip
    assert estimator.estimate is None


def test_slew_takes_the_first_offset_and_big_steps_at_once() -> None:
    slew = Slew(max_rate=0.001, jump_above_ms=50.0)
    assert slew.offset(1_000.0, 0.0) == 1_000.0
    assert slew.offset(1_100.0, 10.0) == 1_100.0  # a step of 100 ms: a clock was set


@pytest.mark.parametrize(
    ("target", "after_ms", "expected"),
    [
        (1_003.0, 1_000.0, 1_001.0),  # 1 ms per second towards a 3 ms step
        (1_003.0, 5_000.0, 1_003.0),  # and no further than the target
        (997.0, 2_000.0, 998.0),  # the same downwards
        (1_000.5, 100.0, 1_000.1),
    ],
)
def test_slew_moves_gently_towards_a_small_step(
    target: float, after_ms: float, expected: float
) -> None:
    slew = Slew(max_rate=0.001, jump_above_ms=50.0)
    slew.offset(1_000.0, 0.0)
    assert slew.offset(target, after_ms) == pytest.approx(expected)
    assert slew.offset(target, 0.0) == pytest.approx(expected)  # the past changes nothing
