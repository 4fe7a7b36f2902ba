"""Adapters turn one system's API into the generic record store the sync engine works with."""

from __future__ import annotations

from integrations.adapters.base import BaseAdapter, Page, Record, RecordAdapter
from integrations.adapters.registry import adapter_for

__all__ = ["BaseAdapter", "Page", "Record", "RecordAdapter", "adapter_for"]
