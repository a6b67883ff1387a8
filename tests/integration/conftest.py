"""Fixtures of the integration tests beyond the shared ones: servers of a test's own."""

from tests.integration.own_servers import own_broker, own_redis

__all__ = ["own_broker", "own_redis"]
