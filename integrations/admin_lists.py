"""What keeps the admin's big lists fast at millions of rows: a paginator that counts only up to a cap.

`COUNT(*)` over a table of ten million rows reads the whole table (PostgreSQL has no stored row count), however
selective the page itself is. The admin needs to know only whether there is more than a few pages, so the count
reads at most CAP + 1 rows (`SELECT COUNT(*) FROM (SELECT id … LIMIT 10001)`) and the page says "10,000+".
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most `cap` + 1 rows; past the cap, the count is `cap` + 1 and `capped` is true."""

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        if not hasattr(object_list, "values"):  # a list: its length costs nothing
            return len(object_list)
        # The subquery's LIMIT bounds the rows read; ordering and selected columns do not matter for a count.
        return int(object_list.order_by().values("pk")[: self.cap + 1].count())

    @property
    def capped(self) -> bool:
        return self.count > self.cap

    @property
    def count_label(self) -> str:
        """What the page shows: the exact count, or "10,000+" past the cap (honest: not a guess)."""
        return f"{self.cap:,}+" if self.capped else f"{self.count:,}"
