"""Token buckets for request rates and invite-code attempts."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bucket", "KeyedBuckets"]


@dataclass
class Bucket:
    """``rate`` tokens per second up to ``burst``; time is passed in."""

    rate: float
    burst: float
    tokens: float = -1.0
    last_ms: int = 0

    def take(self, now_ms: int, cost: float = 1.0) -> bool:
        if self.tokens < 0:
            self.tokens, self.last_ms = self.burst, now_ms
        elapsed = max(0, now_ms - self.last_ms) / 1000
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.last_ms = now_ms
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def full(self, now_ms: int) -> bool:
        elapsed = max(0, now_ms - self.last_ms) / 1000
        return self.tokens < 0 or self.tokens + elapsed * self.rate >= self.burst


class KeyedBuckets:
    """One bucket per key (a user, a client address); full buckets are dropped."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[object, Bucket] = {}

    def take(self, key: object, now_ms: int, cost: float = 1.0) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._sweep(now_ms)
            bucket = self._buckets[key] = Bucket(self.rate, self.burst)
        return bucket.take(now_ms, cost)

    def peek(self, key: object, now_ms: int, cost: float = 1.0) -> bool:
        """Whether ``take`` would succeed, without taking."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return True
        probe = Bucket(bucket.rate, bucket.burst, bucket.tokens, bucket.last_ms)
        return probe.take(now_ms, cost)

    def _sweep(self, now_ms: int) -> None:
        for key in [k for k, b in self._buckets.items() if b.full(now_ms)]:
            del self._buckets[key]
