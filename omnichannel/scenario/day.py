"""One simulated trading day: the channels and the warehouse on one floor, run to the end.

`simulate_day` plans the day, stocks the locations, lets every channel trade in time order and
settles the marketplace at midnight. It returns the `DayLog`: every draft in the order it
happened, with the order and receipt histories the fault injector needs to find its victims.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from operator import attrgetter

from omnichannel.contracts.common import Channel
from omnichannel.reference import ReferenceData
from omnichannel.scenario.assortment import choose_assortment, scannable_catalog_size
from omnichannel.scenario.clock import TradingDay
from omnichannel.scenario.config import CHANNEL_TAX_CODES, ScenarioSettings
from omnichannel.scenario.floor import Floor
from omnichannel.scenario.marketplace import Marketplace, MarketplaceOrder
from omnichannel.scenario.money import Purse
from omnichannel.scenario.plan import plan_day
from omnichannel.scenario.pos import StoreTills
from omnichannel.scenario.records import MARKETPLACE_SETTLEMENTS, Draft, Outbox
from omnichannel.scenario.settlement import settle
from omnichannel.scenario.stock import StockBook
from omnichannel.scenario.warehouse import Warehouse
from omnichannel.scenario.web import WebOrder, WebShop


@dataclass
class DayLog:
    """Everything the day produced, before faults and before the drafts are numbered."""

    outbox: Outbox
    web_orders: list[WebOrder]
    store_receipts: list[list[Draft]]
    marketplace_orders: list[MarketplaceOrder]
    settlements: list[Draft]
    lifecycle: dict[str, Counter[str]]  # per input topic, records of each kind, before faults
    oversells: Counter[str]


def simulate_day(settings: ScenarioSettings, reference: ReferenceData) -> DayLog:
    """Run the day the settings describe against the reference data's world."""
    settings.check_against(reference, scannable_catalog_size(reference))
    locations = settings.trading_locations(reference)
    floor = Floor(
        day=TradingDay.of(settings.day),
        seed=settings.seed,
        assortment=choose_assortment(
            reference, settings.skus, Floor.stream(settings.seed, "assortment")
        ),
        book=StockBook(locations, settings.skus),
        purses={code: Purse(code, exponent) for code, exponent in reference.currencies.items()},
    )
    plan = plan_day(settings, reference, locations, floor.rng("plan"))
    warehouse = Warehouse(floor, reference)
    warehouse.stock_up(plan)
    warehouse.open_spot_checks(plan.spot_movements)
    warehouse.open_replenishment_runs()

    curve = settings.peak_curve
    web = store_tills = marketplace = None
    if Channel.WEB in plan.orders:
        web = WebShop(floor, plan.sells_from[Channel.WEB])
        for code in CHANNEL_TAX_CODES[Channel.WEB]:
            rate = reference.tax_codes[code].rate
            if rate is not None:
                web.with_tax(code, rate)
        web.open(plan.orders[Channel.WEB], curve.web)
    if Channel.POS in plan.orders:
        store_tills = StoreTills(floor, plan.sells_from[Channel.POS])
        store_tills.open(plan.orders[Channel.POS], curve.pos)
    if Channel.MARKETPLACE in plan.orders:
        marketplace = Marketplace(floor, plan.sells_from[Channel.MARKETPLACE])
        marketplace.open(plan.orders[Channel.MARKETPLACE], curve.marketplace)

    floor.timeline.run()
    kinds = Counter(map(attrgetter("topic", "kind"), floor.outbox.drafts))
    lifecycle: dict[str, Counter[str]] = {}
    for (topic, kind), count in kinds.items():
        lifecycle.setdefault(topic, Counter())[kind] = count

    settlements = (
        settle(floor, marketplace.orders, reference.limits.payload_limit(MARKETPLACE_SETTLEMENTS))
        if marketplace
        else []
    )
    return DayLog(
        outbox=floor.outbox,
        web_orders=web.orders if web else [],
        store_receipts=[store.receipts for store in store_tills.stores] if store_tills else [],
        marketplace_orders=marketplace.orders if marketplace else [],
        settlements=settlements,
        lifecycle=lifecycle,
        oversells=floor.oversells,
    )
