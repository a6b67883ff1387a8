"""On-hand and reservations at one location, and cycle counts arriving in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from operators.availability.positions import Position

T = datetime(2026, 11, 27, 8, tzinfo=UTC)
HORIZON = timedelta(hours=1)


def minutes(n: int) -> datetime:
    return T + timedelta(minutes=n)


def test_changes_accumulate() -> None:
    position = Position()
    position.apply(120, 0, minutes(0), HORIZON)
    position.apply(0, 3, minutes(1), HORIZON)
    position.apply(-2, -2, minutes(2), HORIZON)
    assert (position.on_hand, position.reserved) == (118, 1)


def test_count_settles_what_came_before_and_later_changes_apply_on_top() -> None:
    position = Position()
    position.apply(100, 0, minutes(0), HORIZON)
    position.count(90, minutes(10))
    position.apply(-5, 0, minutes(20), HORIZON)
    assert position.on_hand == 85


def test_a_late_change_from_before_the_count_is_already_inside_it() -> None:
    position = Position()
    position.count(90, minutes(10))
    position.apply(-5, 0, minutes(5), HORIZON)
    assert position.on_hand == 90


def test_a_late_count_keeps_the_changes_after_it() -> None:
    position = Position()
    position.apply(100, 0, minutes(0), HORIZON)
    position.apply(-5, 0, minutes(20), HORIZON)
    position.apply(-7, 0, minutes(30), HORIZON)
    position.count(60, minutes(15))
    assert position.on_hand == 60 - 5 - 7


def test_an_older_count_than_the_last_one_is_ignored() -> None:
    position = Position()
    position.count(60, minutes(15))
    assert position.count(80, minutes(10)) is False
    assert position.on_hand == 60


def test_counts_do_not_touch_reservations() -> None:
    position = Position()
    position.apply(0, 4, minutes(1), HORIZON)
    position.count(10, minutes(2))
    assert (position.on_hand, position.reserved) == (10, 4)


def test_a_count_older_than_the_horizon_is_ignored() -> None:
    position = Position()
    position.apply(100, 0, minutes(0), HORIZON)
    position.apply(-5, 0, minutes(200), HORIZON)  # forgets the receipt: it is 3h20 older
    position.apply(-1, 0, minutes(30), HORIZON)  # a late change does not widen what is kept
    assert position.count(60, minutes(10)) is False
    assert position.on_hand == 94
    assert position.count(60, minutes(130)) is False
    assert position.count(60, minutes(190)) is True
    assert position.on_hand == 55


def test_a_change_in_the_counts_own_second_comes_after_it() -> None:
    position = Position()
    position.count(40, minutes(10))
    position.apply(-1, 0, minutes(10), HORIZON)
    assert position.on_hand == 39
