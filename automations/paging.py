"""How a GoHighLevel catalog trigger pages, read from its parameters in the spec (via the catalog).

The styles GHL's triggers declare:

| style              | parameters                          | next page                                               |
|--------------------|-------------------------------------|---------------------------------------------------------|
| search_after       | body `pageLimit`, `searchAfter`     | the last item's `searchAfter` (Search Contacts)         |
| start_after        | query `limit`, `startAfter(Id)`     | the answer's `meta.startAfter` / `meta.startAfterId`    |
| skip / offset      | `limit` and `skip` (or `offset`)    | skip + the items read                                   |
| page               | `limit`, `page`                     | page + 1                                                |
| last_id            | `limit`, `lastMessageId`            | the answer's `lastMessageId`, else the last item's id   |
| start_after_date   | `limit`, `startAfterDate`           | the last item's sort value (`sort[0]`, `lastMessageDate`) |
| none               | —                                   | one page                                                |

A page shorter than the page size ends the scan. A position is the dict of paging values merged into the request;
it is stored with the cursor after each page, so a poll that stops resumes at the next page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from integrations.catalog.loader import BODY, BODY_JSON, QUERY, CatalogOperation

SEARCH_AFTER = "search_after"
START_AFTER = "start_after"
SKIP = "skip"
OFFSET = "offset"
PAGE = "page"
LAST_ID = "last_id"
START_AFTER_DATE = "start_after_date"
NONE = "none"
# A page size when neither the trigger's parameters nor the spec say one (GHL's usual default).
FALLBACK_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Paging:
    """One trigger's paging: its style, the page-size parameter and where the paging values go."""

    style: str
    size_name: str | None  # "limit" / "pageLimit"; None: the trigger takes no page size
    location: str  # QUERY | BODY | BODY_JSON: where size and position values go
    size_is_text: bool  # the spec types the page size as a string ("25")
    default_size: int

    def page_size(self, params: Mapping[str, Any], body: Any) -> int:
        """The page size in effect: the one the automation gives, else the default."""
        if self.size_name is None:
            return 0
        given = (body if self.location != QUERY and isinstance(body, Mapping) else params).get(self.size_name)
        try:
            return max(1, int(given)) if given not in (None, "") else self.default_size
        except (TypeError, ValueError):
            return self.default_size

    def first(self, size: int) -> dict[str, Any]:
        """The paging values of the first page."""
        values: dict[str, Any] = {}
        if self.size_name:
            values[self.size_name] = str(size) if self.size_is_text else size
        if self.style in (SKIP, OFFSET):
            values[self.style] = "0" if self.size_is_text else 0
        elif self.style == PAGE:
            values["page"] = 1
        return values

    def apply(self, params: Mapping[str, Any], body: Any, values: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
        """The request's parameters and body with the paging values in their place."""
        params = dict(params)
        if self.location == QUERY:
            params.update(values)
            return params, body
        merged = {**(body if isinstance(body, Mapping) else {}), **values}
        if self.style == SEARCH_AFTER and "searchAfter" in values:
            merged.pop("page", None)  # GHL refuses page and searchAfter together
        return params, merged

    def next(
        self, values: Mapping[str, Any], data: Any, items: list[dict[str, Any]], size: int
    ) -> dict[str, Any] | None:
        """The paging values of the page after this one, or None when this was the last."""
        if self.style == NONE:
            return None
        # A short page is the last one (GHL has no "has more" flag on most lists).
        if size and len(items) < size:
            return None
        if not items:
            return None
        current = dict(values)
        last = items[-1]
        if self.style == SEARCH_AFTER:
            after = last.get("searchAfter")
            if not isinstance(after, list) or not after or after == current.get("searchAfter"):
                return None
            current.pop("page", None)
            return {**current, "searchAfter": after}
        if self.style == START_AFTER:
            meta = data.get("meta") if isinstance(data, Mapping) else None
            if not isinstance(meta, Mapping) or not (meta.get("nextPage") or meta.get("nextPageUrl")):
                return None
            after_id, after = meta.get("startAfterId"), meta.get("startAfter")
            if not after_id or after is None or after_id == current.get("startAfterId"):
                return None
            return {**current, "startAfterId": after_id, "startAfter": after}
        if self.style in (SKIP, OFFSET):
            done = int(current.get(self.style) or 0) + len(items)
            return {**current, self.style: str(done) if self.size_is_text else done}
        if self.style == PAGE:
            return {**current, "page": int(current.get("page") or 1) + 1}
        if self.style == LAST_ID:
            holder = data.get("messages") if isinstance(data, Mapping) else None
            if isinstance(holder, Mapping):
                if holder.get("nextPage") is False:
                    return None
                last_id = holder.get("lastMessageId") or last.get("id")
            else:
                last_id = last.get("id")
            if not last_id or last_id == current.get("lastMessageId"):
                return None
            return {**current, "lastMessageId": last_id}
        if self.style == START_AFTER_DATE:
            sort = last.get("sort")
            value = sort[0] if isinstance(sort, list) and sort else last.get("lastMessageDate")
            if value in (None, "") or value == current.get("startAfterDate"):
                return None
            return {**current, "startAfterDate": value}
        return None


def _default_size(schema: Mapping[str, Any], catalog_default: Any) -> int:
    for value in (schema.get("maximum"), catalog_default, schema.get("default")):
        try:
            if value not in (None, ""):
                return max(1, min(int(value), MAX_PAGE_SIZE))
        except (TypeError, ValueError):
            continue
    return FALLBACK_PAGE_SIZE


def paging_for(operation: CatalogOperation) -> Paging:
    """The paging style of a trigger, from its parameters as the spec declares them."""
    if operation.body_is_json:
        # Search Contacts: an open body (the spec declares no properties); the catalog's default body names pageLimit.
        default = operation.fields_at(BODY_JSON)[0].default
        if isinstance(default, Mapping) and "pageLimit" in default:
            return Paging(SEARCH_AFTER, "pageLimit", BODY_JSON, False, MAX_PAGE_SIZE)
        return Paging(NONE, None, BODY_JSON, False, 0)
    fields = {f.name: f for f in operation.fields if f.location in (QUERY, BODY)}
    size_field = fields.get("limit") or fields.get("pageLimit")
    location = size_field.location if size_field else QUERY
    size_name = size_field.name if size_field else None
    is_text = bool(size_field and size_field.schema.get("type") == "string")
    size = _default_size(size_field.schema, size_field.default) if size_field else 0
    if "searchAfter" in fields:
        style = SEARCH_AFTER
    elif "startAfterId" in fields and "startAfter" in fields:
        style = START_AFTER
    elif "lastMessageId" in fields:
        style = LAST_ID
    elif "startAfterDate" in fields:
        style = START_AFTER_DATE
    elif "skip" in fields:
        style = SKIP
    elif "offset" in fields:
        style = OFFSET
    elif "page" in fields:
        style = PAGE
    else:
        style = NONE
    if style != NONE and size_name is None:
        # Paging values without a page size: one page (a short page cannot be told from a full one).
        style = NONE
    if style in (SKIP, OFFSET) and fields[style].location != location:
        location = fields[style].location
    return Paging(style, size_name, location, is_text, size)
