"""Reference data loads, answers the adapters' questions, and names a bad entry by its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnichannel.reference import DEFAULT_REFERENCE_FILE, ean_check_digit, load_reference
from omnichannel.settings import SettingError

DEFAULT_TEXT = DEFAULT_REFERENCE_FILE.read_text()


def test_the_bundled_file_answers_the_adapters_questions() -> None:
    reference = load_reference()
    assert reference.is_known_sku("SKU-1001")
    assert not reference.is_known_sku("SKU-999")
    assert not reference.is_known_sku("SKU-01001")
    assert reference.sku_for_ean("4006381333931") == "SKU-1001"
    assert reference.sku_for_ean(reference.in_store_ean("SKU-2040")) == "SKU-2040"
    assert reference.sku_for_ean("2000000020401") is None  # wrong check digit
    assert reference.locations_for("marketplace") == ["DC-EAST", "DC-WEST"]
    assert reference.accepts_currency("pos", "EUR")
    assert not reference.accepts_currency("pos", "USD")


def test_ean_check_digit() -> None:
    assert ean_check_digit("400638133393") == "1"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reference.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        (
            'allocation_share = "0.5"',
            'allocation_share = "1.5"',
            "channels.marketplace.allocation_share",
        ),
        ("safety_stock = 2", "safety_stock = -2", "channels.web.safety_stock"),
        ('currencies = ["EUR"]', 'currencies = ["CHF"]', "channels.pos.currencies: CHF"),
        ('"4006381333931" = "SKU-1001"', '"4006381333931" = "SKU-7"', "catalog.eans.4006381333931"),
        ('"4006381333931" = "SKU-1001"', '"40063" = "SKU-1001"', "catalog.eans"),
        ('kind = "DC"', 'kind = "WAREHOUSE"', "locations.DC-EAST.kind"),
        ('channels = ["pos"]', 'channels = ["kiosk"]', "locations.S-015.channels"),
        ('rate = "0.19"', 'rate = "19"', "tax_codes.DE-19.rate"),
        ("max_quantity = 100000", "max_quantity = 0", "limits.max_quantity"),
    ],
)
def test_a_bad_entry_is_named_by_its_path(tmp_path: Path, old: str, new: str, named: str) -> None:
    assert old in DEFAULT_TEXT
    with pytest.raises(SettingError, match=named.replace(".", r"\.")):
        load_reference(write(tmp_path, DEFAULT_TEXT.replace(old, new, 1)))


def test_a_channel_without_policy_or_location_is_refused(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace('channels = ["web", "marketplace"]', 'channels = ["web"]')
    with pytest.raises(SettingError, match="no location serves channel marketplace"):
        load_reference(write(tmp_path, text))


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(SettingError, match="does not exist"):
        load_reference(tmp_path / "missing.toml")
    with pytest.raises(SettingError, match="not valid TOML"):
        load_reference(write(tmp_path, "[catalog\n"))
