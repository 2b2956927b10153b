"""The rate limit holds for the whole server: with N worker processes each allows 1/N of it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.config import Settings
from api.main import build_services, create_app
from api.middleware import TokenBuckets


def test_each_worker_allows_its_share_of_the_burst() -> None:
    one, four = TokenBuckets(1.0, 12, workers=1), TokenBuckets(1.0, 12, workers=4)
    assert [one.take("c") == 0 for _ in range(13)] == [True] * 12 + [False]
    assert [four.take("c") == 0 for _ in range(4)] == [True] * 3 + [False]
    assert four.rate == 0.25


def test_share_is_at_least_one_request() -> None:
    buckets = TokenBuckets(1.0, 2, workers=8)
    assert buckets.take("c") == 0 and buckets.take("c") > 0


def test_app_of_a_two_worker_server_allows_half_the_burst(settings: Settings) -> None:
    settings.rate_limit_per_s = 1
    settings.rate_limit_burst = 10
    settings.workers = 2
    with TestClient(create_app(settings, build_services(settings))) as c:
        codes = [c.get("/.well-known/gs1resolver").status_code for _ in range(8)]
    assert codes == [200] * 5 + [429] * 3
