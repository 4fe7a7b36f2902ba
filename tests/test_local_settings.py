"""The embedded default's generated keys (config/settings/local.py) load whatever characters they hold."""

from __future__ import annotations

import pytest

from config.settings import local


def test_a_generated_secret_key_starting_with_a_dollar_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    generated = "$0d=f2ub56vqiy(x)k!q8-@a#^lp"  # a key Django's get_random_secret_key made on a new machine
    assert local.env_or_generated("DJANGO_SECRET_KEY", generated) == generated


def test_the_environment_wins_over_the_generated_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SECRET_KEY", "from-the-environment")
    assert local.env_or_generated("DJANGO_SECRET_KEY", "$generated") == "from-the-environment"
