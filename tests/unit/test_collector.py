"""A flow process sets Python's collector thresholds from GC_THRESHOLDS, or the defaults."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from omnichannel.collector import (
    DEFAULT_THRESHOLDS,
    SETTING,
    configure_from_env,
    thresholds_from_env,
    tuned_for_run,
)
from omnichannel.settings import SettingError


@pytest.fixture
def restored_collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


def test_the_defaults_apply_unless_the_setting_says_otherwise() -> None:
    assert thresholds_from_env({}) == DEFAULT_THRESHOLDS
    assert thresholds_from_env({SETTING: " 5000,20,30 "}) == (5000, 20, 30)
    assert thresholds_from_env({SETTING: "0,0,0"}) == (0, 0, 0)


@pytest.mark.parametrize("value", ["100000", "1,2", "a,b,c", "1,2,3,4", "-1,10,10"])
def test_a_bad_setting_is_named(value: str) -> None:
    with pytest.raises(SettingError, match=SETTING):
        thresholds_from_env({SETTING: value})


@pytest.mark.usefixtures("restored_collector")
def test_configuring_sets_the_thresholds_and_freezes_what_is_loaded() -> None:
    assert configure_from_env({SETTING: "123456,7,8"}) == (123456, 7, 8)
    assert gc.get_threshold() == (123456, 7, 8)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_collector")
def test_a_run_inside_a_longer_process_gives_the_collector_back_as_it_was() -> None:
    gc.set_threshold(700, 10, 10)
    with tuned_for_run({SETTING: "123456,7,8"}) as thresholds:
        assert thresholds == (123456, 7, 8)
        assert gc.get_threshold() == (123456, 7, 8)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0
