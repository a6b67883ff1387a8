"""The operations overview: the flows' own metrics, scraped from each process and summed up.

The flows already count what operations and finance ask about (`omnichannel/metrics.py`):
order aging, failed postings, refund mismatches, the reconciliation backlog and gap, ERP
posting delay, availability latency, consumer lag, exceptions, records in and out. The
workbench reads the same `/metrics` endpoints Prometheus scrapes, so the overview and the
Grafana dashboards agree, and it needs no Prometheus to run against the local stack.

`MetricsWatch` scrapes every URL of `WORKBENCH_METRICS_URLS` each interval in a daemon thread
and keeps a bounded history of `Overview`s (small summaries, not the raw samples) for the
sparklines. A URL `dns+http://name:port/path` stands for every address the name resolves to,
each scraped as a target of its own: a flow's headless Service names all its processes, and
each process counts only its own share of the work. `Overview.build` is pure: from one round
of scrapes (and the previous one, for rates) to the figures. A target that does not answer is
shown as down, and a figure no answering target serves is unknown (None), never zero.
"""

from __future__ import annotations

import http.client
import logging
import math
import socket
import threading
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from prometheus_client.parser import text_string_to_metric_families

logger = logging.getLogger(__name__)

DNS_PREFIX = "dns+"
DEFAULT_INTERVAL_S = 5.0
DEFAULT_KEEP = 720  # an hour of history at the default interval
DEFAULT_TIMEOUT_S = 3.0
MAX_PARALLEL_SCRAPES = 8

# The metric families the overview reads (README.md's metrics table, omnichannel/metrics.py).
EVENTS_IN = "omni_events_in_total"
EVENTS_OUT = "omni_events_out_total"
EXCEPTIONS = "omni_exceptions_total"
POSTINGS_FAILED = "omni_postings_failed_total"
REFUND_MISMATCHES = "omni_refund_mismatches_total"
RECONCILIATION_BACKLOG = "omni_reconciliation_backlog_windows"
RECONCILIATION_GAP = "omni_reconciliation_gap"
CONSUMER_LAG = "omni_consumer_lag_records"
ORDER_AGING = "omni_order_aging_seconds"
POSTING_DELAY = "omni_posting_delay_seconds"
AVAILABILITY_LATENCY = "omni_availability_latency_seconds"


@dataclass(frozen=True)
class Sample:
    """One sample of a scrape: `omni_events_in_total{flow="finance",...} 42`."""

    name: str
    labels: Mapping[str, str]
    value: float


def parse_metrics(text: str) -> list[Sample]:
    """The flows' own samples (`omni_*`) of a Prometheus text exposition.

    Bytewax's and the process's metrics on the same endpoint are left out: the overview does
    not read them, and the history would only carry their weight.

    Raises:
        ValueError: the text is not the Prometheus exposition format.
    """
    return [
        Sample(sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        if family.name.startswith("omni_")
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]


@dataclass(frozen=True)
class TargetScrape:
    """What one target answered at `at`: its samples, or why it is down."""

    target: str
    at: datetime
    samples: tuple[Sample, ...] = ()
    error: str | None = None
    flow: str | None = None  # the flow it serves, remembered from its last answer while down

    @property
    def up(self) -> bool:
        return self.error is None


def flow_of(samples: Iterable[Sample]) -> str | None:
    """The flow a process serves: the `flow` label most of its samples carry."""
    flows = Counter(s.labels["flow"] for s in samples if s.labels.get("flow"))
    return flows.most_common(1)[0][0] if flows else None


@dataclass(frozen=True)
class Quantiles:
    """Quantiles of a histogram, over every observation since its processes started."""

    observations: float
    p50: float | None
    p95: float | None
    p99: float | None
    ceiling: float | None = None  # the highest finite bucket bound: a quantile there is "at least"

    def shown(self, name: str) -> str:
        """A quantile (`p50`, `p95`, `p99`) as people read it; `>= 1 h` where it fell beyond
        the highest finite bucket (a histogram cannot say how far beyond)."""
        value: float | None = getattr(self, name)
        if value is not None and self.ceiling is not None and value >= self.ceiling:
            return f">= {format_duration(self.ceiling)}"
        return format_duration(value)


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The q-quantile of cumulative buckets {upper bound: count}, as Prometheus computes it.

    Linear interpolation inside the bucket the rank falls in (from 0 for the first bucket);
    in the +Inf bucket, the highest finite bound. None without observations or without a
    +Inf bucket (Prometheus: NaN).
    """
    bounds = sorted(buckets)
    if not bounds or bounds[-1] != math.inf:
        return None
    counts, highest = [], 0.0
    for bound in bounds:  # counts from several processes summed: keep them monotonic
        highest = max(highest, buckets[bound])
        counts.append(highest)
    observations = counts[-1]
    if observations <= 0:
        return None
    rank = q * observations
    index = next(i for i, count in enumerate(counts) if count >= rank)
    if index == len(bounds) - 1:
        return bounds[-2] if len(bounds) > 1 else None
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0 if index == 0 else bounds[index - 1]
    before = 0.0 if index == 0 else counts[index - 1]
    inside = counts[index] - before
    if inside <= 0:
        return bounds[index]
    return start + (bounds[index] - start) * (rank - before) / inside


def quantiles(buckets: Mapping[float, float]) -> Quantiles:
    finite = [bound for bound in buckets if math.isfinite(bound)]
    return Quantiles(
        observations=max(buckets.values(), default=0.0),
        p50=histogram_quantile(0.5, buckets),
        p95=histogram_quantile(0.95, buckets),
        p99=histogram_quantile(0.99, buckets),
        ceiling=max(finite, default=None),
    )


@dataclass(frozen=True)
class Target:
    """A scraped process as the overview shows it."""

    url: str
    flow: str | None
    up: bool
    error: str | None
    scraped_at: datetime


@dataclass(frozen=True)
class FlowHealth:
    """One flow over its processes: up or down, how far behind, how fast.

    `lag` is records behind per input topic, summed over partitions; rates are records a
    second since the previous scrape (None until a process has answered twice). A flow with
    every process down has no figures at all.
    """

    flow: str
    targets: int
    targets_up: int
    lag: Mapping[str, float] | None
    events_in_per_s: float | None
    events_out_per_s: float | None

    @property
    def up(self) -> bool:
        return self.targets_up > 0

    @property
    def lag_total(self) -> float | None:
        return None if self.lag is None else sum(self.lag.values())


@dataclass(frozen=True)
class ReconciliationState:
    """The newest hourly summary of a channel and currency, as finance's gauges say it."""

    channel: str
    currency: str
    backlog_windows: float  # hours of the last day that do not reconcile
    gap: float  # |shipped - invoiced| + |refunded - credited| of the newest hour

    @property
    def reconciles(self) -> bool:
        return self.backlog_windows == 0 and self.gap == 0


@dataclass(frozen=True)
class Overview:
    """The figures of one round of scrapes.

    A figure is None when no process that answered serves it while some process is down:
    unknown, not zero. `partial` says some process is down, so sums may be short.
    """

    at: datetime
    targets: tuple[Target, ...]
    flows: Mapping[str, FlowHealth]
    order_aging: Mapping[str, Quantiles] | None  # per channel
    posting_delay: Quantiles | None
    posting_delay_by_channel: Mapping[str, Quantiles] | None
    availability_latency: Quantiles | None
    failed_postings: Mapping[str, float] | None  # per reason
    refund_mismatches: Mapping[str, float] | None  # per channel
    reconciliation: tuple[ReconciliationState, ...] | None
    exceptions: Mapping[str, float] | None  # per reason, over every flow

    @property
    def down(self) -> tuple[Target, ...]:
        return tuple(target for target in self.targets if not target.up)

    @property
    def partial(self) -> bool:
        return any(not target.up for target in self.targets)

    @classmethod
    def build(
        cls,
        scrapes: Sequence[TargetScrape],
        previous: Mapping[str, TargetScrape] | None = None,
        at: datetime | None = None,
    ) -> Overview:
        """The overview of a round of scrapes.

        Args:
            scrapes: one per target, up or down.
            previous: each target's last answer before these, for the rates.
            at: when the round was taken; the newest scrape's time when not given.
        """
        answered = [s for s in scrapes if s.up]
        partial = len(answered) < len(scrapes)
        samples = _Samples(answered)

        def known(name: str) -> bool:
            return not partial or samples.serves(name)

        posting_delay = samples.buckets(POSTING_DELAY)
        latency = samples.buckets(AVAILABILITY_LATENCY)
        return cls(
            at=at or max((s.at for s in scrapes), default=datetime.now(UTC)),
            targets=tuple(
                Target(s.target, s.flow, s.up, s.error, s.at)
                for s in sorted(scrapes, key=lambda s: (s.flow or "", s.target))
            ),
            flows=_flows(scrapes, previous or {}),
            order_aging=(
                {c: quantiles(b) for c, b in sorted(samples.buckets_by(ORDER_AGING, "channel"))}
                if known(f"{ORDER_AGING}_bucket")
                else None
            ),
            posting_delay=quantiles(posting_delay) if known(f"{POSTING_DELAY}_bucket") else None,
            posting_delay_by_channel=(
                {c: quantiles(b) for c, b in sorted(samples.buckets_by(POSTING_DELAY, "channel"))}
                if known(f"{POSTING_DELAY}_bucket")
                else None
            ),
            availability_latency=(
                quantiles(latency) if known(f"{AVAILABILITY_LATENCY}_bucket") else None
            ),
            failed_postings=(
                samples.sum_by(POSTINGS_FAILED, "reason") if known(POSTINGS_FAILED) else None
            ),
            refund_mismatches=(
                samples.sum_by(REFUND_MISMATCHES, "channel") if known(REFUND_MISMATCHES) else None
            ),
            reconciliation=(_reconciliation(samples) if known(RECONCILIATION_GAP) else None),
            exceptions=samples.sum_by(EXCEPTIONS, "reason") if known(EXCEPTIONS) else None,
        )


class _Samples:
    """The samples of the targets that answered, indexed by name, summed up as asked."""

    def __init__(self, scrapes: Iterable[TargetScrape]) -> None:
        self._by_name: dict[str, list[Sample]] = {}
        for scrape in scrapes:
            for sample in scrape.samples:
                self._by_name.setdefault(sample.name, []).append(sample)

    def serves(self, name: str) -> bool:
        return name in self._by_name

    def named(self, name: str) -> list[Sample]:
        return self._by_name.get(name, [])

    def sum_by(self, name: str, label: str) -> dict[str, float]:
        sums: dict[str, float] = {}
        for sample in self.named(name):
            key = sample.labels.get(label, "")
            sums[key] = sums.get(key, 0.0) + sample.value
        return dict(sorted(sums.items()))

    def max_by(self, name: str, labels: tuple[str, ...]) -> dict[tuple[str, ...], float]:
        highest: dict[tuple[str, ...], float] = {}
        for sample in self.named(name):
            key = tuple(sample.labels.get(label, "") for label in labels)
            highest[key] = max(highest.get(key, -math.inf), sample.value)
        return highest

    def buckets(self, histogram: str) -> dict[float, float]:
        return self._grouped(histogram, None).get("", {})

    def buckets_by(self, histogram: str, label: str) -> list[tuple[str, dict[float, float]]]:
        return list(self._grouped(histogram, label).items())

    def _grouped(self, histogram: str, label: str | None) -> dict[str, dict[float, float]]:
        groups: dict[str, dict[float, float]] = {}
        for sample in self.named(f"{histogram}_bucket"):
            key = "" if label is None else sample.labels.get(label, "")
            bound = float(sample.labels["le"])
            group = groups.setdefault(key, {})
            group[bound] = group.get(bound, 0.0) + sample.value
        return groups


def _reconciliation(samples: _Samples) -> tuple[ReconciliationState, ...]:
    # A (channel, currency) is one key of finance's state, in one process; after a rescale
    # another process may still show the key's older figure: the larger one is the worry.
    keys = ("channel", "currency")
    gaps = samples.max_by(RECONCILIATION_GAP, keys)
    backlog = samples.max_by(RECONCILIATION_BACKLOG, keys)
    return tuple(
        ReconciliationState(channel, currency, backlog.get((channel, currency), 0.0), gap)
        for (channel, currency), gap in sorted(gaps.items())
    )


def _flows(
    scrapes: Sequence[TargetScrape], previous: Mapping[str, TargetScrape]
) -> dict[str, FlowHealth]:
    by_flow: dict[str, list[TargetScrape]] = {}
    for scrape in scrapes:
        by_flow.setdefault(scrape.flow or "unknown", []).append(scrape)
    flows: dict[str, FlowHealth] = {}
    for flow, members in sorted(by_flow.items()):
        answered = [s for s in members if s.up]
        lag: dict[str, float] | None = None
        if answered:
            lag = {}
            for scrape in answered:
                for sample in scrape.samples:
                    if sample.name == CONSUMER_LAG and sample.labels.get("flow") == flow:
                        topic = sample.labels.get("topic", "")
                        lag[topic] = lag.get(topic, 0.0) + sample.value
            lag = dict(sorted(lag.items()))
        flows[flow] = FlowHealth(
            flow=flow,
            targets=len(members),
            targets_up=len(answered),
            lag=lag,
            events_in_per_s=_rate(EVENTS_IN, flow, answered, previous),
            events_out_per_s=_rate(EVENTS_OUT, flow, answered, previous),
        )
    return flows


def _rate(
    counter: str, flow: str, answered: Sequence[TargetScrape], previous: Mapping[str, TargetScrape]
) -> float | None:
    """Records a second over the flow's processes, each since its own previous answer."""
    rates = []
    for scrape in answered:
        before = previous.get(scrape.target)
        if before is None or not before.up:
            continue
        seconds = (scrape.at - before.at).total_seconds()
        if seconds <= 0:
            continue
        now, then = _total(scrape, counter, flow), _total(before, counter, flow)
        # A process that restarted counts from 0 again: all it counted since is new.
        rates.append((now - then if now >= then else now) / seconds)
    return sum(rates) if rates else None


def _total(scrape: TargetScrape, counter: str, flow: str) -> float:
    return sum(
        s.value for s in scrape.samples if s.name == counter and s.labels.get("flow") == flow
    )


def check_metrics_url(url: str) -> str:
    """The URL, if the watch can scrape it: http(s)://, or dns+http(s):// for every address.

    Raises:
        ValueError: another scheme, or no host.
    """
    parsed = urllib.parse.urlsplit(url.removeprefix(DNS_PREFIX))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"expected http(s)://host[:port]/path or dns+http(s)://..., got {url!r}")
    return url


def resolve(url: str) -> list[str]:
    """The URLs to scrape for a configured one: itself, or one per address for dns+.

    IPv4 addresses when the name has any (a dual-stack name gives each process twice),
    otherwise IPv6.

    Raises:
        OSError: the name does not resolve.
    """
    if not url.startswith(DNS_PREFIX):
        return [url]
    parsed = urllib.parse.urlsplit(url.removeprefix(DNS_PREFIX))
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    v4 = sorted({str(info[4][0]) for info in found if info[0] == socket.AF_INET})
    v6 = sorted({str(info[4][0]) for info in found if info[0] == socket.AF_INET6})
    addresses = v4 or [f"[{address}]" for address in v6]
    if not addresses:
        raise OSError(f"{host} has no address")
    return [parsed._replace(netloc=f"{address}:{port}").geturl() for address in addresses]


def scrape(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[Sample]:
    """The `omni_` samples one `/metrics` URL serves now.

    Raises:
        OSError: unreachable, refused, timed out, or an HTTP error status.
        ValueError: the answer is not Prometheus text.
        http.client.HTTPException: the answer is not HTTP.
    """
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return parse_metrics(response.read().decode("utf-8"))


class MetricsWatch:
    """The flows' metrics, scraped every `interval_s` in a daemon thread, with their history.

    Args:
        urls: the flows' `/metrics` URLs (`dns+` for every address of a name).
        interval_s: seconds between rounds of scrapes.
        keep: how many overviews to keep for the charts (720 at 5 s: an hour).
        timeout_s: how long one target may take to answer.
        clock: the time of a scrape, timezone-aware UTC.
    """

    def __init__(
        self,
        urls: Sequence[str],
        interval_s: float = DEFAULT_INTERVAL_S,
        keep: int = DEFAULT_KEEP,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if interval_s <= 0 or keep <= 0 or timeout_s <= 0:
            raise ValueError("interval_s, keep and timeout_s must be positive")
        self.urls = tuple(check_metrics_url(url) for url in urls)
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._history: deque[Overview] = deque(maxlen=keep)
        self._answered: dict[str, TargetScrape] = {}  # each target's last answer
        self._down: set[str] = set()  # the targets down in the last round
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(
            max_workers=MAX_PARALLEL_SCRAPES, thread_name_prefix="metrics-scrape"
        )

    def start(self) -> None:
        """Scrape now and then every interval, until `stop`."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="metrics-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval_s + self._timeout_s + 5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def latest(self) -> Overview | None:
        """The newest overview; None before the first round."""
        with self._lock:
            return self._history[-1] if self._history else None

    def history(self) -> list[Overview]:
        """The overviews kept, oldest first."""
        with self._lock:
            return list(self._history)

    def scrape_round(self) -> Overview:
        """Scrape every target once now; the overview, added to the history."""
        targets: list[tuple[str, str | None]] = []  # (URL to scrape, why it cannot be)
        for url in self.urls:
            try:
                targets.extend((resolved, None) for resolved in resolve(url))
            except (OSError, ValueError) as exc:  # UnicodeError: a name IDNA refuses
                targets.append((url, f"does not resolve: {exc}"))
        scrapes = list(self._pool.map(lambda t: self._scrape(*t), targets))
        with self._lock:
            previous = dict(self._answered)
            overview = Overview.build(scrapes, previous, self._clock())
            self._answered.update((s.target, s) for s in scrapes if s.up)
            self._history.append(overview)
            down = {s.target for s in scrapes if not s.up}
            went_down, came_back = down - self._down, self._down - down
            self._down = down
        for scraped in scrapes:  # once when a target goes down, not every round
            if scraped.target in went_down:
                logger.warning("metrics target %s is down: %s", scraped.target, scraped.error)
            elif scraped.target in came_back:
                logger.info("metrics target %s answers again", scraped.target)
        return overview

    def _scrape(self, url: str, unresolved: str | None) -> TargetScrape:
        known = self._answered.get(url)
        flow = known.flow if known is not None else None
        if unresolved is not None:
            return TargetScrape(url, self._clock(), error=unresolved, flow=flow)
        try:
            samples = tuple(scrape(url, self._timeout_s))
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return TargetScrape(url, self._clock(), error=str(exc) or type(exc).__name__, flow=flow)
        return TargetScrape(url, self._clock(), samples, flow=flow_of(samples) or flow)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.scrape_round()
            self._stop.wait(self._interval_s)


@dataclass(frozen=True)
class Trend:
    """One figure over the overviews kept, for a sparkline: None where it was unknown."""

    title: str
    unit: str  # "records", "records/s", "s", or a currency
    values: list[float | None] = field(default_factory=list)

    @property
    def latest(self) -> float | None:
        return self.values[-1] if self.values else None


def trends(history: Sequence[Overview]) -> dict[str, Trend]:
    """The figures worth a chart, keyed `lag:finance`, `events_in:normalization`, ...

    Keys: `lag:<flow>`, `events_in:<flow>`, `events_out:<flow>`, `failed_postings`,
    `refund_mismatches`, `exceptions`, `posting_delay_p95`, `availability_latency_p99`,
    `order_aging_p95:<channel>`, `reconciliation_gap:<channel>:<currency>`.
    """
    if not history:
        return {}
    newest = history[-1]
    picks: dict[str, tuple[str, str, Callable[[Overview], float | None]]] = {}
    for flow in newest.flows:
        picks[f"lag:{flow}"] = (f"{flow} lag", "records", _flow_figure(flow, "lag"))
        picks[f"events_in:{flow}"] = (f"{flow} in", "records/s", _flow_figure(flow, "in"))
        picks[f"events_out:{flow}"] = (f"{flow} out", "records/s", _flow_figure(flow, "out"))
    picks["failed_postings"] = ("Failed postings", "postings", _summed("failed_postings"))
    picks["refund_mismatches"] = ("Refund mismatches", "refunds", _summed("refund_mismatches"))
    picks["exceptions"] = ("Exceptions", "records", _summed("exceptions"))
    picks["posting_delay_p95"] = (
        "ERP posting delay p95", "s", lambda o: o.posting_delay.p95 if o.posting_delay else None
    )  # fmt: skip
    picks["availability_latency_p99"] = (
        "Availability latency p99",
        "s",
        lambda o: o.availability_latency.p99 if o.availability_latency else None,
    )
    for channel in newest.order_aging or {}:
        picks[f"order_aging_p95:{channel}"] = (
            f"{channel} order aging p95", "s", _aging_p95(channel)
        )  # fmt: skip
    for state in newest.reconciliation or ():
        picks[f"reconciliation_gap:{state.channel}:{state.currency}"] = (
            f"{state.channel} {state.currency} gap",
            state.currency,
            _gap(state.channel, state.currency),
        )
    return {
        key: Trend(title, unit, [pick(overview) for overview in history])
        for key, (title, unit, pick) in picks.items()
    }


def _flow_figure(flow: str, figure: str) -> Callable[[Overview], float | None]:
    def pick(overview: Overview) -> float | None:
        health = overview.flows.get(flow)
        if health is None:
            return None
        if figure == "lag":
            return health.lag_total
        return health.events_in_per_s if figure == "in" else health.events_out_per_s

    return pick


def _summed(figure: str) -> Callable[[Overview], float | None]:
    def pick(overview: Overview) -> float | None:
        counts: Mapping[str, float] | None = getattr(overview, figure)
        return None if counts is None else sum(counts.values())

    return pick


def _aging_p95(channel: str) -> Callable[[Overview], float | None]:
    def pick(overview: Overview) -> float | None:
        aging = (overview.order_aging or {}).get(channel)
        return aging.p95 if aging else None

    return pick


def _gap(channel: str, currency: str) -> Callable[[Overview], float | None]:
    def pick(overview: Overview) -> float | None:
        for state in overview.reconciliation or ():
            if (state.channel, state.currency) == (channel, currency):
                return state.gap
        return None

    return pick


def sparkline_svg(
    values: Sequence[float | None], width: int = 120, height: int = 24, label: str = ""
) -> str:
    """A small inline SVG line of the values, oldest left; a gap where a value is unknown.

    Scaled between the values' own minimum and maximum (a flat line mid-height when they
    are all equal); a lone known value between gaps is a dot. `label` becomes the chart's
    accessible name and tooltip, escaped. No script, no external reference.
    """
    pad = 2.0
    known = [v for v in values if v is not None and math.isfinite(v)]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    step = (width - 2 * pad) / max(len(values) - 1, 1)

    def y(value: float) -> float:
        if high == low:
            return height / 2
        return height - pad - (value - low) / (high - low) * (height - 2 * pad)

    segments: list[list[tuple[float, float]]] = [[]]
    for index, value in enumerate(values):
        if value is None or not math.isfinite(value):
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((pad + index * step, y(value)))
    shapes = []
    for points in (s for s in segments if s):
        if len(points) == 1:
            ((x0, y0),) = points
            shapes.append(f'<circle cx="{x0:.1f}" cy="{y0:.1f}" r="1.5" fill="currentColor"/>')
        else:
            line = " ".join(f"{x:.1f},{y_:.1f}" for x, y_ in points)
            shapes.append(
                f'<polyline points="{line}" fill="none" stroke="currentColor" '
                'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>'
            )
    name = escape(label, quote=True)
    title = f"<title>{name}</title>" if label else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{name}">'
        f"{title}{''.join(shapes)}</svg>"
    )


def format_duration(seconds: float | None) -> str:
    """A duration as people read it: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`; `-` unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
