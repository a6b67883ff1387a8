"""Today's assortment: which catalog SKUs sell, how popular each is, what it costs, its barcode.

Popularity follows a Zipf law, as retail sales do: a few SKUs sell most of the units. Prices are
drawn from price points, never computed through floats. Each SKU carries the EAN a store till
scans: the manufacturer's where reference data maps one, the in-store EAN otherwise.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from random import Random

from omnichannel.reference import ReferenceData
from omnichannel.scenario.basket import draw_bounds
from omnichannel.scenario.money import Purse

ZIPF_EXPONENT = 1.05

USD_PRICE_POINTS = tuple(
    Decimal(p)
    for p in (
        "4.99", "7.99", "9.99", "12.99", "14.99", "19.99", "24.99", "29.99", "34.99", "39.99",
        "49.99", "59.99", "79.99", "99.99", "129.99", "149.99", "199.99", "249.99", "299.99",
    )
)  # fmt: skip
# European shelf prices include VAT, so they sit a little above the US net price points.
EUR_PRICE_POINTS = tuple(
    Decimal(p)
    for p in (
        "5.99", "8.99", "11.99", "14.99", "17.99", "22.99", "27.99", "34.99", "39.99", "44.99",
        "59.99", "69.99", "89.99", "119.99", "149.99", "179.99", "229.99", "279.99", "349.99",
    )
)  # fmt: skip
PRICE_POINT_WEIGHTS = (3, 5, 8, 8, 9, 10, 9, 9, 7, 7, 6, 5, 4, 3, 2, 2, 1, 1, 1)
REDUCED_VAT_SHARE = 0.15  # books and food: DE-7


@dataclass(frozen=True)
class Assortment:
    """The SKUs that sell today, indexed 0..n-1, with what every channel needs to sell them."""

    skus: tuple[str, ...]
    eans: tuple[str, ...]
    usd_prices: tuple[Decimal, ...]
    eur_prices: tuple[Decimal, ...]
    store_tax_codes: tuple[str, ...]
    shares: tuple[float, ...]
    _cumulative: tuple[float, ...]
    _total: float
    usd_price_texts: tuple[str, ...] = field(init=False)
    eur_price_texts: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        # Prices are written on every line of every order: format each once. They are already
        # rounded to their currency, so `str` writes exactly its decimals.
        object.__setattr__(self, "usd_price_texts", tuple(str(p) for p in self.usd_prices))
        object.__setattr__(self, "eur_price_texts", tuple(str(p) for p in self.eur_prices))

    def __len__(self) -> int:
        return len(self.skus)

    def pick(self, rng: Random) -> int:
        """A SKU index, drawn by popularity."""
        return bisect(self._cumulative, rng.random() * self._total)

    def picker(self, rng: Random) -> Callable[[], int]:
        """`pick` bound to one random stream: a plain call, for loops over every order line."""
        random, bounds, total = rng.random, self._cumulative, self._total
        return lambda: bisect(bounds, random() * total)


def scannable_catalog_size(reference: ReferenceData) -> int:
    """How many catalog SKUs a store till can scan: the generated range and mapped EANs."""
    return reference.catalog.count + len(_named_skus_with_ean(reference))


def choose_assortment(reference: ReferenceData, size: int, rng: Random) -> Assortment:
    """Draw `size` SKUs from the catalog and give each a popularity, prices and a barcode."""
    catalog = reference.catalog
    named = _named_skus_with_ean(reference)
    drawn = sorted(rng.sample(range(catalog.count + len(named)), size))
    skus = tuple(
        catalog.generated_sku(catalog.first + i) if i < catalog.count else named[i - catalog.count]
        for i in drawn
    )
    manufacturer_ean = {sku: ean for ean, sku in sorted(catalog.eans.items())}
    eans = tuple(manufacturer_ean.get(sku) or reference.in_store_ean(sku) for sku in skus)
    ranks = list(range(1, size + 1))
    rng.shuffle(ranks)
    weights = [1.0 / rank**ZIPF_EXPONENT for rank in ranks]
    total = sum(weights)
    bounds, bounds_total = draw_bounds(weights)
    points = rng.choices(range(len(USD_PRICE_POINTS)), PRICE_POINT_WEIGHTS, k=size)
    # Both price lists exist even when a channel that uses one does not trade today.
    usd = Purse("USD", reference.currencies.get("USD", 2))
    eur = Purse("EUR", reference.currencies.get("EUR", 2))
    return Assortment(
        skus=skus,
        eans=eans,
        usd_prices=tuple(usd.round(USD_PRICE_POINTS[p]) for p in points),
        eur_prices=tuple(eur.round(EUR_PRICE_POINTS[p]) for p in points),
        store_tax_codes=tuple(
            "DE-7" if rng.random() < REDUCED_VAT_SHARE else "DE-19" for _ in skus
        ),
        shares=tuple(w / total for w in weights),
        _cumulative=bounds,
        _total=bounds_total,
    )


def _named_skus_with_ean(reference: ReferenceData) -> list[str]:
    """SKUs named outside the generated range that a manufacturer EAN maps to."""
    catalog = reference.catalog
    mapped = set(catalog.eans.values())
    return sorted(
        sku for sku in catalog.skus | mapped if sku in mapped and not _generated(reference, sku)
    )


def _generated(reference: ReferenceData, sku: str) -> bool:
    catalog = reference.catalog
    number = sku[len(catalog.sku_prefix) :]
    return (
        sku.startswith(catalog.sku_prefix)
        and number.isdigit()
        and number == str(int(number))
        and catalog.first <= int(number) < catalog.first + catalog.count
    )
