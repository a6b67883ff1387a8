"""Recovery partitions: each process's share, refused layouts, and spreading between processes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from omnichannel.recovery import RecoverySettings, partitions_in, prepare, spread
from omnichannel.settings import SettingError


def settings(directory: Path, partitions: int = 6) -> RecoverySettings:
    return RecoverySettings(directory, partitions, timedelta(seconds=1), timedelta(0))


def numbers(directory: Path) -> list[int]:
    return sorted(partitions_in([directory]))


def test_each_process_creates_only_its_share(tmp_path: Path) -> None:
    assert prepare(settings(tmp_path / "one")) == 6
    assert numbers(tmp_path / "one") == [0, 1, 2, 3, 4, 5]
    for process in range(3):
        assert prepare(settings(tmp_path / f"p{process}"), process, 3) == 2
    assert [numbers(tmp_path / f"p{n}") for n in range(3)] == [[0, 3], [1, 4], [2, 5]]
    # A second start finds its share and creates nothing.
    assert prepare(settings(tmp_path / "p1"), 1, 3) == 2


def test_a_process_of_several_refuses_a_directory_holding_every_partition(tmp_path: Path) -> None:
    prepare(settings(tmp_path))
    with pytest.raises(SettingError, match=r"holds all 6 recovery partitions.*recovery spread"):
        prepare(settings(tmp_path), 0, 2)


def test_spread_moves_partitions_to_their_process_and_back(tmp_path: Path) -> None:
    one = tmp_path / "one"
    prepare(settings(one))
    (one / "part-4.sqlite3-wal").write_bytes(b"journal")
    two = [tmp_path / "a", tmp_path / "b"]

    spread([one], two)
    assert [numbers(d) for d in two] == [[0, 2, 4], [1, 3, 5]]
    assert (two[0] / "part-4.sqlite3-wal").read_bytes() == b"journal"
    assert numbers(one) == []

    spread(two, [one])
    assert numbers(one) == [0, 1, 2, 3, 4, 5]


def test_spread_refuses_an_incomplete_or_doubled_set(tmp_path: Path) -> None:
    prepare(settings(tmp_path / "a"))
    (tmp_path / "a" / "part-2.sqlite3").unlink()
    with pytest.raises(SettingError, match=r"missing .*\[2\]"):
        spread([tmp_path / "a"], [tmp_path / "b"])
    prepare(settings(tmp_path / "c"), 0, 3)
    with pytest.raises(SettingError, match="partition 0 is in both"):
        spread([tmp_path / "a", tmp_path / "c"], [tmp_path / "b"])
