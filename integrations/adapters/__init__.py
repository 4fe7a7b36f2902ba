"""Adapters turn one system's API into the generic record store the sync engine works with."""

from __future__ import annotations

from integrations.adapters.base import Page, Record, RecordAdapter, adapter_for

__all__ = ["Page", "Record", "RecordAdapter", "adapter_for"]
