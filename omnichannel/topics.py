"""Topic names, in one place: the defaults of the design, each overridable from the environment.

`TOPIC_WEB_ORDERS=shop.orders` renames the web shop's topic, and so on for every field below
(upper-cased, prefixed with `TOPIC_`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from omnichannel.contracts.common import Channel


class Topics(BaseModel):
    """Every topic the flows read or write."""

    model_config = ConfigDict(frozen=True)

    web_orders: str = "orders.web"
    pos_orders: str = "orders.pos"
    marketplace_orders: str = "orders.marketplace"
    settlements: str = "settlements.marketplace"
    movements: str = "inventory.movements"
    canonical_orders: str = "canonical.orders"
    canonical_movements: str = "canonical.movements"
    canonical_settlements: str = "canonical.settlements"
    exceptions: str = "integration.exceptions"
    exceptions_audit: str = "integration.exceptions.audit"
    anomalies: str = "integration.anomalies"
    postings: str = "erp.postings"
    reconciliation: str = "finance.reconciliation"
    availability_prefix: str = "availability."

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Topics:
        source = os.environ if env is None else env
        overrides = {
            name: source[f"TOPIC_{name.upper()}"]
            for name in cls.model_fields
            if source.get(f"TOPIC_{name.upper()}")
        }
        return cls(**overrides)

    @property
    def inputs(self) -> list[str]:
        """The topics the channels, marketplaces and warehouses write to."""
        return [
            self.web_orders,
            self.pos_orders,
            self.marketplace_orders,
            self.settlements,
            self.movements,
        ]

    def availability(self, channel: Channel) -> str:
        return f"{self.availability_prefix}{channel}"
