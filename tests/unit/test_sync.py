"""The correction policy against a fake player, with time passed in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cmp.core.sync import SyncPolicy

TICK_MS = 50.0


@dataclass
class FakePlayer:
    """Plays at ``speed``; its clock runs ``ppm`` fast against the timeline."""

    position: float
    speed: float = 1.0
    ppm: float = 0.0

    def run(self, ms: float) -> None:
        self.position += ms * self.speed * (1 + self.ppm * 1e-6)


def simulate(player: FakePlayer, policy: SyncPolicy, ticks: int) -> list[float]:
    errors = []
    now = 0.0
    for _ in range(ticks):
        decision = policy.decide(expected_ms=now, actual_ms=player.position, now_ms=now)
        if decision.seek_to_ms is not None:
            # Resumes at now + look-ahead; a tick later it is a little behind.
            player.position = decision.seek_to_ms - policy.lookahead_ms - 1.0
        player.speed = decision.speed
        errors.append(decision.error_ms)
        player.run(TICK_MS)
        now += TICK_MS
    return errors


@pytest.mark.parametrize(
    ("expected", "actual", "speed", "seek", "state"),
    [
        (1000.0, 1000.0, 1.0, None, "in_sync"),
        (1000.0, 999.0, 1 + 1 / 500, None, "in_sync"),  # gently within 2 ms
        (1000.0, 990.0, 1 + 2 / 500 + 8 / 250, None, "syncing"),  # firmly beyond
        (1000.0, 1010.0, 1 - 2 / 500 - 8 / 250, None, "syncing"),
        (1000.0, 900.0, 1.05, None, "syncing"),  # clamped to the largest trim
        (1000.0, 700.0, 1.0, 1100.0, "seeking"),
        (1000.0, 1300.0, 1.0, 1100.0, "seeking"),
    ],
)
def test_decisions(
    expected: float, actual: float, speed: float, seek: float | None, state: str
) -> None:
    decision = SyncPolicy().decide(expected_ms=expected, actual_ms=actual, now_ms=0)
    assert decision.speed == pytest.approx(speed)
    assert decision.seek_to_ms == seek
    # A seek aims one look-ahead (100 ms) on, and resumes then.
    assert decision.resume_at_ms == (None if seek is None else 100.0)
    assert decision.state == state


def test_a_small_error_is_trimmed_away_within_two_seconds() -> None:
    policy = SyncPolicy()
    errors = simulate(FakePlayer(position=-50.0), policy, ticks=60)
    settled = [abs(e) for e in errors[40:]]  # after 2 s
    assert max(settled) <= policy.in_sync_ms


def test_a_large_jump_is_one_seek_then_trims() -> None:
    policy = SyncPolicy()
    player = FakePlayer(position=-300.0)
    seeks = 0
    now = 0.0
    for _ in range(40):
        decision = policy.decide(expected_ms=now, actual_ms=player.position, now_ms=now)
        if decision.seek_to_ms is not None:
            seeks += 1
            player.position = decision.seek_to_ms - policy.lookahead_ms - 1.0
        player.speed = decision.speed
        player.run(TICK_MS)
        now += TICK_MS
    assert seeks == 1
    assert abs(now - player.position) < 1.0


def test_drift_is_held_with_small_steady_trims() -> None:
    policy = SyncPolicy()
    player = FakePlayer(position=0.0, ppm=300.0)
    speeds = []
    now = 0.0
    for _ in range(2_000):
        decision = policy.decide(expected_ms=now, actual_ms=player.position, now_ms=now)
        player.speed = decision.speed
        speeds.append(decision.speed)
        player.run(TICK_MS)
        now += TICK_MS
    steady = speeds[200:]
    assert max(abs(s - 1.0) for s in steady) <= 0.005
    assert abs(now - player.position) < 1.0


def test_no_second_seek_while_the_first_settles() -> None:
    policy = SyncPolicy(settle_ms=300)
    first = policy.decide(expected_ms=1000, actual_ms=0, now_ms=0)
    assert first.seek_to_ms is not None
    during = policy.decide(expected_ms=1100, actual_ms=0, now_ms=100)
    assert (during.seek_to_ms, during.state) == (None, "seeking")
    after = policy.decide(expected_ms=1400, actual_ms=0, now_ms=400)
    assert after.seek_to_ms is not None
    policy.reset()
    assert policy.decide(expected_ms=10, actual_ms=10, now_ms=401).state == "in_sync"
