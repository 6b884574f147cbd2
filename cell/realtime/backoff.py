"""Full-jitter exponential backoff, shared by every reconnecting loop of a cell process."""

from __future__ import annotations

import random


class Backoff:
    """A random wait in ``[0, min(cap, base * 2**n)]`` after the n-th consecutive failure."""

    def __init__(self, base: float = 0.2, cap: float = 10.0) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def next(self) -> float:
        delay = random.uniform(0, min(self.cap, self.base * 2**self.attempt))
        self.attempt = min(self.attempt + 1, 30)
        return delay

    def reset(self) -> None:
        self.attempt = 0
