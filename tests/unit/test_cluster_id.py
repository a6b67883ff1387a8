"""The local stack's KRaft cluster ids: ones Kafka's storage tool takes as an argument."""

from __future__ import annotations

import base64
import re
import uuid
from unittest import mock

from omnichannel.localstack import new_cluster_id


def test_a_cluster_id_is_22_base64url_characters_never_starting_with_a_dash() -> None:
    ids = {new_cluster_id() for _ in range(2_000)}
    assert len(ids) == 2_000
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", found) for found in ids)


def test_a_uuid_whose_id_would_start_with_a_dash_is_drawn_again() -> None:
    dashed = uuid.UUID(bytes=b"\xf8" + bytes(15))  # base64url: "-A..."
    plain = uuid.UUID(bytes=bytes(16))
    assert base64.urlsafe_b64encode(dashed.bytes).startswith(b"-")
    with mock.patch("omnichannel.localstack.uuid.uuid4", side_effect=[dashed, plain]):
        assert new_cluster_id() == "A" * 22
