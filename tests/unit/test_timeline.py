"""The timeline rules, with time passed in by hand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cmp.core import timeline
from cmp.core.errors import Conflict, InvalidArgs, NotFound
from cmp.core.models import PlaybackInfo

LEAD = 250
T0 = 1_000_000


@dataclass(frozen=True)
class T:
    id: int
    duration_ms: int | None


PLAYLIST = [T(1, 10_000), T(2, 20_000), T(3, None)]


def playing(item: int, position: int = 0, at: int = T0, repeat: str = "off") -> PlaybackInfo:
    return PlaybackInfo(
        item=item, status="playing", position_ms=position, anchor_at_ms=at, repeat=repeat
    )


def paused(item: int, position: int, at: int = T0) -> PlaybackInfo:
    return PlaybackInfo(
        item=item, status="paused", position_ms=position, anchor_at_ms=at, repeat="off"
    )


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        (playing(1, 0, T0), T0 - 100, 0),  # before the anchor: waiting to start
        (playing(1, 0, T0), T0, 0),
        (playing(1, 500, T0), T0 + 1_500, 2_000),
        (paused(1, 4_000, T0), T0 + 60_000, 4_000),
        (timeline.initial(), T0, 0),
    ],
)
def test_position_at(state: PlaybackInfo, now: int, expected: int) -> None:
    assert timeline.position_at(state, now) == expected


def test_play_from_stopped_starts_first_item_after_lead() -> None:
    new = timeline.play(timeline.initial(now_ms=T0), PLAYLIST, T0, LEAD)
    assert new == playing(1, 0, T0 + LEAD)


def test_play_with_empty_playlist_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        timeline.play(timeline.initial(), [], T0, LEAD)


def test_play_while_playing_changes_nothing() -> None:
    state = playing(1, 0, T0)
    assert timeline.play(state, PLAYLIST, T0 + 5_000, LEAD) is state


def test_resume_from_pause_keeps_position() -> None:
    new = timeline.play(paused(2, 7_000), PLAYLIST, T0 + 9_999, LEAD)
    assert new == playing(2, 7_000, T0 + 9_999 + LEAD)


def test_play_item_jumps() -> None:
    new = timeline.play(playing(1, 0), PLAYLIST, T0 + 10, LEAD, item=3, position_ms=1_000)
    assert new == playing(3, 1_000, T0 + 10 + LEAD)


def test_play_unknown_item() -> None:
    with pytest.raises(NotFound):
        timeline.play(playing(1), PLAYLIST, T0, LEAD, item=99)


def test_pause_freezes_the_expected_position() -> None:
    new = timeline.pause(playing(1, 1_000, T0), T0 + 2_500)
    assert new == paused(1, 3_500, T0 + 2_500)
    assert timeline.pause(new, T0 + 9_000) is new


def test_seek_while_playing_restarts_after_lead() -> None:
    new = timeline.seek(playing(2, 0, T0), PLAYLIST, 12_000, T0 + 100, LEAD)
    assert new == playing(2, 12_000, T0 + 100 + LEAD)


def test_seek_while_paused_stays_paused() -> None:
    new = timeline.seek(paused(2, 0), PLAYLIST, 5_000, T0 + 100, LEAD)
    assert new == paused(2, 5_000, T0 + 100)


@pytest.mark.parametrize("position", [10_000, 15_000])
def test_seek_past_the_end_is_invalid(position: int) -> None:
    with pytest.raises(InvalidArgs):
        timeline.seek(playing(1), PLAYLIST, position, T0, LEAD)


def test_seek_when_stopped_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        timeline.seek(timeline.initial(), PLAYLIST, 0, T0, LEAD)


@pytest.mark.parametrize(
    ("state", "expected_item", "expected_status"),
    [
        (playing(1), 2, "playing"),
        (paused(1, 100), 2, "paused"),
        (playing(3), None, "stopped"),
        (playing(3, repeat="all"), 1, "playing"),
    ],
)
def test_skip_next(state: PlaybackInfo, expected_item: int | None, expected_status: str) -> None:
    new = timeline.skip_next(state, PLAYLIST, T0, LEAD)
    assert (new.item, new.status, new.position_ms) == (expected_item, expected_status, 0)


def test_skip_prev_restarts_when_far_in() -> None:
    new = timeline.skip_prev(playing(2, 0, T0), PLAYLIST, T0 + 3_001, LEAD)
    assert new == playing(2, 0, T0 + 3_001 + LEAD)


def test_skip_prev_goes_back_near_the_start() -> None:
    new = timeline.skip_prev(playing(2, 0, T0), PLAYLIST, T0 + 2_000, LEAD)
    assert new == playing(1, 0, T0 + 2_000 + LEAD)


def test_skip_prev_on_first_item_wraps_only_with_repeat_all() -> None:
    assert timeline.skip_prev(playing(1), PLAYLIST, T0, LEAD).item == 1
    assert timeline.skip_prev(playing(1, repeat="all"), PLAYLIST, T0, LEAD).item == 3


def test_skip_when_stopped_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        timeline.skip_next(timeline.initial(), PLAYLIST, T0, LEAD)


def test_advance_due_is_lead_before_the_end() -> None:
    state = playing(1, 4_000, T0)
    assert timeline.end_at(state, 10_000) == T0 + 6_000
    assert timeline.advance_due_at(state, 10_000, LEAD) == T0 + 6_000 - LEAD
    assert timeline.advance_due_at(state, None, LEAD) is None
    assert timeline.advance_due_at(paused(1, 0), 10_000, LEAD) is None


def test_advance_on_time_is_gapless() -> None:
    state = playing(1, 0, T0)
    new = timeline.advance(state, PLAYLIST, T0 + 10_000 - LEAD, LEAD)
    assert new == playing(2, 0, T0 + 10_000)


def test_advance_late_starts_after_lead() -> None:
    new = timeline.advance(playing(1, 0, T0), PLAYLIST, T0 + 60_000, LEAD)
    assert new == playing(2, 0, T0 + 60_000 + LEAD)


@pytest.mark.parametrize(
    ("repeat", "expected"),
    [("off", (None, "stopped")), ("all", (1, "playing")), ("one", (2, "playing"))],
)
def test_advance_at_the_end_follows_repeat(repeat: str, expected: tuple[int | None, str]) -> None:
    playlist = PLAYLIST[:2]
    state = playing(2, 0, T0, repeat=repeat)
    new = timeline.advance(state, playlist, T0 + 20_000, LEAD)
    assert (new.item, new.status) == expected


def test_advance_repeat_one_replays_the_item() -> None:
    new = timeline.advance(playing(1, 0, T0, repeat="one"), PLAYLIST, T0 + 9_750, LEAD)
    assert new == playing(1, 0, T0 + 10_000, repeat="one")


def test_removing_the_current_item_cues_the_next() -> None:
    new = timeline.item_removed(playing(1), PLAYLIST, 1, T0 + 5, LEAD)
    assert new == playing(2, 0, T0 + 5 + LEAD)
    assert timeline.item_removed(playing(1), PLAYLIST, 2, T0, LEAD) == playing(1)


def test_removing_the_last_current_item_stops() -> None:
    new = timeline.item_removed(playing(3), PLAYLIST, 3, T0, LEAD)
    assert (new.item, new.status) == (None, "stopped")
