"""The in-process token buckets."""

from __future__ import annotations

from services.gateway.ratelimit import LocalBuckets


def test_local_buckets_burst_then_rate() -> None:
    buckets = LocalBuckets()
    results = [buckets.take("k", rate_per_s=1, burst=3).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    refused = buckets.take("k", rate_per_s=1, burst=3)
    assert 0 < refused.retry_after_s <= 1
    assert buckets.take("other", rate_per_s=1, burst=3).allowed
