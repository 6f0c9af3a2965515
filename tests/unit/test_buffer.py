"""The output-queue model behind the follower's position reads, with time passed in."""

from __future__ import annotations

import pytest

from cmp.follower.buffer import BufferEstimate, SpeedHistory

D = 400.0


def history() -> SpeedHistory:
    """Speed 1.0 from long ago, 1.05 from t = 1000 ms."""
    made = SpeedHistory(0.0, 1.0)
    made.change(1_000.0, 1.05, D)
    return made


@pytest.mark.parametrize(
    ("now", "sound", "in_flight"),
    [
        # At the change the reading jumps by -0.05 x 400 = -20 ms; the sound has not moved.
        (1_000.0, 20.0, 0.0),
        # Half the queue is new audio: the sound is 10 ms short of the reading's
        # jump, and the queue will carry it 10 ms further than normal speed.
        (1_200.0, 10.0, 10.0),
        # The whole queue is new audio: the reading is right again.
        (1_400.0, 0.0, 20.0),
        (5_000.0, 0.0, 20.0),
    ],
)
def test_corrections_after_a_speed_change(now: float, sound: float, in_flight: float) -> None:
    made = history()
    assert made.sound_correction_ms(now, D) == pytest.approx(sound)
    assert made.in_flight_ms(now, D) == pytest.approx(in_flight)


def test_one_speed_needs_no_correction() -> None:
    made = SpeedHistory(0.0, 0.97)
    assert made.sound_correction_ms(10_000.0, D) == pytest.approx(0.0)
    assert made.in_flight_ms(10_000.0, D) == pytest.approx(-0.03 * D)


def test_a_reset_forgets_the_queue() -> None:
    made = history()
    made.reset(1_100.0)  # a seek: the queue is refilled at 1.05 at once
    assert made.speed == 1.05
    assert made.sound_correction_ms(1_100.0, D) == pytest.approx(0.0)


def test_old_changes_are_forgotten() -> None:
    made = SpeedHistory(0.0, 1.0)
    for step in range(1, 1_000):
        made.change(step * 50.0, 1.0 + (step % 3) * 0.001, D)
    # Only the changes that still speak for the queue are kept.
    assert len(made._changes) <= D / 50 + 2
    assert made.integral_ms(999 * 50.0 - D, 999 * 50.0) == pytest.approx(
        sum(1.0 + (s % 3) * 0.001 for s in range(991, 999)) * 50.0
    )


def test_the_estimate_starts_at_the_prior_and_learns_from_jumps() -> None:
    estimate = BufferEstimate(prior_ms=374.0)
    assert estimate.buffer_ms == pytest.approx(374.0)
    for _ in range(20):
        assert estimate.observe(delta=0.05, jump_ms=-0.05 * 200.0)
    assert estimate.buffer_ms == pytest.approx(200.0, abs=1.0)


@pytest.mark.parametrize(
    ("delta", "jump"),
    [
        (0.001, -0.4),  # too small a change to measure against read jitter
        (0.05, -500.0),  # 10 s of queue: a misread (a seek landed meanwhile)
        (0.05, +50.0),  # a jump the wrong way, far beyond jitter
    ],
)
def test_unusable_figures_are_dropped(delta: float, jump: float) -> None:
    estimate = BufferEstimate(prior_ms=374.0)
    assert not estimate.observe(delta=delta, jump_ms=jump)
    assert estimate.buffer_ms == pytest.approx(374.0)


def test_an_output_without_jumps_drifts_to_no_queue() -> None:
    # An mpv that does not scale its reading by speed shows no jump at all.
    estimate = BufferEstimate(prior_ms=374.0)
    for _ in range(50):
        estimate.observe(delta=0.01, jump_ms=0.0)
    assert estimate.buffer_ms < 10.0
