"""The error an action raises when it cannot succeed as it is (kept apart so the contact resolver and the executors
import it without importing each other)."""

from __future__ import annotations


class ActionFailed(Exception):
    """The action cannot succeed as it is (bad fields, refused by the API): the item fails with this message."""
