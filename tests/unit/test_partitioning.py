import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnichannel.partitioning import murmur2, partition_for

# The vectors of Kafka's own UtilsTest.testMurmur2.
JAVA_VECTORS = [
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
]


@pytest.mark.parametrize(("key", "expected"), JAVA_VECTORS)
def test_murmur2_matches_kafka_java(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=512))
def test_partition_is_in_range(key: bytes, partitions: int) -> None:
    assert 0 <= partition_for(key, partitions) < partitions


def test_partition_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="partitions must be at least 1"):
        partition_for(b"SKU-1001", 0)
