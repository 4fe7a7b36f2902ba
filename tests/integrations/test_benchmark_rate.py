"""The rate benchmark's share counts the first window's burst as allowed (a sliding window lets it through)."""

from __future__ import annotations

import pytest

from sandbox.benchmarks.rate import honest_share


def test_the_share_is_of_what_a_sliding_window_allows_in_every_started_window() -> None:
    assert honest_share(1188, 119.9) == (pytest.approx(99.0), 1200)
    assert honest_share(1200, 120.0) == (pytest.approx(100.0), 1200)
    # 100.5 s starts an 11th window: 1,100 requests fit, so 1,000 is 90.9 %, not the 99.5 % of 10 / s × 100.5 s.
    share, allowed = honest_share(1000, 100.5)
    assert allowed == 1100
    assert share == pytest.approx(90.9, abs=0.05)
