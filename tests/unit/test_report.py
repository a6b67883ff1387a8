"""The demo's summary and report, on a small hand-made replay whose every figure is known.

The output folder is written as the replay's sink writes it (one Avro container file per topic,
the contract's schema in its header); the input folder holds a manifest, or only JSON Lines.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastavro import parse_schema, writer
from rich.console import Console

from omnichannel.codec import to_avro_record
from omnichannel.contracts.anomaly import AnomalyType
from omnichannel.contracts.avro_schema import avro_schema
from omnichannel.contracts.common import Channel, Contract
from omnichannel.contracts.exception_record import ExceptionReason
from omnichannel.report import DemoSummary, print_summary, summarize, write_html
from omnichannel.report.html import render_html
from omnichannel.report.summary import AvailabilityPoint, Oversells
from omnichannel.report.svg import HEIGHT, WIDTH, ChartLine, step_chart
from tests.unit.contract_examples import (
    MARKETPLACE_OVERSELL,
    RECEIPT_MOVEMENT,
    UNKNOWN_EAN_EXCEPTION,
    WEB_AVAILABILITY,
    WEB_ORDER_PLACED,
)

DAY = date(2026, 11, 27)
SVG = "{http://www.w3.org/2000/svg}"
ODD_SKU = "SKU<1>&co"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 27, hour, minute, tzinfo=UTC)


def update(
    channel: Channel, sku: str, version: int, when: datetime, ats: int, location: str | None = None
) -> Contract:
    return WEB_AVAILABILITY.model_copy(
        update={
            "channel": channel,
            "sku": sku,
            "location": location,
            "version": version,
            "event_time": when,
            "available_to_sell": ats,
        }
    )


def oversell(channel: Channel, units: int, n: int) -> Contract:
    return MARKETPLACE_OVERSELL.model_copy(
        update={"channel": channel, "quantity": units, "anomaly_id": f"oversell:{channel}:{n}"}
    )


# Web: SKU-A sells out (written out of version order); SKU-B is never above 0, so it did not
# sell out. POS: SKU-A at two stores, S-2 sells out. Marketplace publishes nothing.
WEB_UPDATES = [
    update(Channel.WEB, "SKU-A", 1, at(0), 5),
    update(Channel.WEB, "SKU-A", 3, at(12), 0),
    update(Channel.WEB, "SKU-A", 2, at(10), 2),
    update(Channel.WEB, "SKU-B", 1, at(0), 0),
    update(Channel.WEB, "SKU-B", 2, at(9), 0),
    update(Channel.WEB, ODD_SKU, 1, at(0), 1),
]
POS_UPDATES = [
    update(Channel.POS, "SKU-A", 1, at(0), 4, "S-1"),
    update(Channel.POS, "SKU-A", 1, at(0), 2, "S-2"),
    update(Channel.POS, "SKU-A", 2, at(10, 30), 0, "S-2"),
    update(Channel.POS, "SKU-A", 2, at(11), 3, "S-1"),
]
ANOMALIES = [
    oversell(Channel.WEB, 1, 1),
    oversell(Channel.WEB, 2, 2),
    oversell(Channel.POS, 3, 3),
    MARKETPLACE_OVERSELL.model_copy(update={"anomaly_type": AnomalyType.DUPLICATE_EVENT}),
]
EXCEPTIONS = [
    UNKNOWN_EAN_EXCEPTION.model_copy(update={"reason": ExceptionReason.UNKNOWN_SKU}),
    UNKNOWN_EAN_EXCEPTION.model_copy(update={"reason": ExceptionReason.MALFORMED_JSON}),
    UNKNOWN_EAN_EXCEPTION.model_copy(update={"reason": ExceptionReason.UNKNOWN_SKU}),
]
COUNTS = {
    "orders.web": 10,
    "orders.pos": 5,
    "orders.marketplace": 3,
    "settlements.marketplace": 1,
    "inventory.movements": 4,
}
EXPECTED = {
    "canonical.orders": 15,
    "canonical.movements": 3,
    "canonical.settlements": 1,
    "integration.exceptions": 4,
}


def write_avro(folder: Path, topic: str, records: Sequence[Contract]) -> None:
    schema = parse_schema(avro_schema(type(records[0])))
    with (folder / f"{topic}.avro").open("wb") as file:
        writer(file, schema, [to_avro_record(record) for record in records], codec="deflate")


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    write_avro(folder, "availability.web", WEB_UPDATES)
    write_avro(folder, "availability.pos", POS_UPDATES)
    write_avro(folder, "integration.anomalies", ANOMALIES)
    write_avro(folder, "integration.exceptions", EXCEPTIONS)
    write_avro(folder, "canonical.orders", [WEB_ORDER_PLACED] * 14)
    write_avro(folder, "canonical.movements", [RECEIPT_MOVEMENT] * 3)
    return folder


@pytest.fixture
def input_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    manifest = {
        "settings": {"day": DAY.isoformat()},
        "counts": COUNTS,
        "expected_counts": EXPECTED,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.fixture
def summary(input_dir: Path, output_dir: Path) -> DemoSummary:
    return summarize(input_dir, output_dir, seconds=2.0)


def test_inputs_come_from_the_manifest_grouped_by_sender(summary: DemoSummary) -> None:
    assert summary.trading_day == DAY
    assert (summary.day_start, summary.day_end) == (at(0), datetime(2026, 11, 28, tzinfo=UTC))
    assert summary.input_events == COUNTS
    assert summary.events_by_source == {"web": 10, "pos": 5, "marketplace": 4, "warehouses": 4}
    assert summary.total_input_events == 23
    assert summary.events_per_second == pytest.approx(11.5)


def test_outputs_are_counted_per_topic_beside_the_expectation(summary: DemoSummary) -> None:
    assert summary.events_out == {
        "canonical.orders": 14,
        "canonical.movements": 3,
        "canonical.settlements": 0,
        "integration.exceptions": 3,
    }
    assert summary.expected_out == EXPECTED
    assert summary.exceptions_by_reason == {"unknown_sku": 2, "malformed_json": 1}
    assert summary.anomalies_by_type == {"oversell": 3, "duplicate_event": 1}


def test_oversells_are_counted_with_the_units_short(summary: DemoSummary) -> None:
    assert summary.oversells == {
        Channel.WEB: Oversells(caught=2, units_short=3),
        Channel.POS: Oversells(caught=1, units_short=3),
        Channel.MARKETPLACE: Oversells(caught=0, units_short=0),
    }
    assert (summary.oversells_caught, summary.units_short) == (3, 6)


def test_sold_out_means_zero_at_the_end_after_being_above_zero(summary: DemoSummary) -> None:
    assert summary.updates_published == {Channel.WEB: 6, Channel.POS: 4, Channel.MARKETPLACE: 0}
    assert summary.sold_out == {Channel.WEB: 1, Channel.POS: 1, Channel.MARKETPLACE: 0}


def test_busiest_skus_have_their_series_in_version_order(summary: DemoSummary) -> None:
    assert [(t.sku, t.updates) for t in summary.busiest] == [
        ("SKU-A", 7),
        ("SKU-B", 2),
        (ODD_SKU, 1),
    ]
    sku_a = summary.busiest[0].series
    assert sku_a[Channel.WEB] == [
        AvailabilityPoint(at(0), 5),
        AvailabilityPoint(at(10), 2),
        AvailabilityPoint(at(12), 0),
    ]
    # POS is summed over its stores, each at its latest number.
    assert sku_a[Channel.POS] == [
        AvailabilityPoint(at(0), 4),
        AvailabilityPoint(at(0), 6),
        AvailabilityPoint(at(10, 30), 4),
        AvailabilityPoint(at(11), 3),
    ]
    assert Channel.MARKETPLACE not in sku_a


def test_without_a_manifest_the_lines_are_counted(tmp_path: Path, output_dir: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "orders.web.jsonl").write_text('{"key": "1"}\n{"key": "2"}\n\n', encoding="utf-8")
    (folder / "inventory.movements.jsonl").write_text('{"key": "3"}\n', encoding="utf-8")

    bare = summarize(folder, output_dir, seconds=0.5)

    assert bare.input_events["orders.web"] == 2
    assert bare.total_input_events == 3
    assert bare.trading_day == DAY
    assert bare.expected_out == {}


def test_wall_time_must_be_positive(input_dir: Path, output_dir: Path) -> None:
    with pytest.raises(ValueError, match="wall time"):
        summarize(input_dir, output_dir, seconds=0)


def series_paths(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(f"{SVG}path[@class='series']")


def test_chart_has_one_path_per_line_inside_the_view_box() -> None:
    lines = [
        ChartLine("Web shop", "#0072B2", [(at(0), 5), (at(10), 2), (at(12), 0)]),
        ChartLine("Stores", "#D55E00", [(at(0), 40), (at(23, 59), 0)]),
        ChartLine("Marketplace", "#009E73", [(at(6), 7)]),
    ]

    svg = step_chart("SKU-A: available to sell", lines, at(0), datetime(2026, 11, 28, tzinfo=UTC))

    paths = series_paths(svg)
    assert [p.get("data-label") for p in paths] == ["Web shop", "Stores", "Marketplace"]
    assert ET.fromstring(svg).get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    for path in paths:
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path.get("d", ""))]
        assert all(0 <= x <= WIDTH for x in numbers[::2])
        assert all(0 <= y <= HEIGHT for y in numbers[1::2])


def test_chart_steps_hold_each_value_until_the_next_point() -> None:
    svg = step_chart("t", [ChartLine("a", "#000", [(at(0), 2), (at(12), 0)])], at(0), at(23))

    (path,) = series_paths(svg)
    points = re.findall(r"L?(\S+) (\S+)", path.get("d", ""))
    (_, top), (x1, held), (x2, bottom), (x_end, last) = points
    assert held == top
    assert x1 == x2
    assert last == bottom
    assert float(x_end) > float(x2)


class _WellFormed(HTMLParser):
    """Checks that every element closes in order; void elements need no end tag."""

    VOID = frozenset({"meta", "br", "img", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.text: list[str] = []
        self.svgs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.svgs += tag == "svg"
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open[-1:] == [tag], f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_is_well_formed_self_contained_and_escaped(
    summary: DemoSummary, tmp_path: Path
) -> None:
    path = tmp_path / "report" / "demo.html"

    write_html(summary, path)

    document = path.read_text(encoding="utf-8")
    parser = _WellFormed()
    parser.feed(document)
    parser.close()
    assert parser.open == []
    assert parser.svgs == 3
    assert "Trading day 2026-11-27: demo report" in "".join(parser.text)
    assert ODD_SKU in "".join(parser.text)
    assert ODD_SKU not in document
    assert "SKU&lt;1&gt;&amp;co" in document
    assert not re.search(r"<script|https?://(?!www\.w3\.org/2000/svg)", document)
    assert document == render_html(summary)


def test_printout_names_each_figure_and_the_report(summary: DemoSummary) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, color_system=None)

    print_summary(summary, console, report=Path("/tmp/x/demo[1].html"))

    text = out.getvalue()
    assert text.startswith(
        "Trading day 2026-11-27: 23 events from 3 channels and the warehouses, "
        "replayed in 2.0 s (12 events/s)"
    )
    for expected in ("Web shop", "Units short", "unknown sku", "SKU<1>&co (1)", "demo[1].html"):
        assert expected in text
