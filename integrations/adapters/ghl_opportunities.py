"""GoHighLevel opportunities as flat Records, with their pipeline and stage also by name.

GHL stores an opportunity's pipeline and stage by id; people (and StreetText deals) use their names. The adapter
reads the location's pipelines once per adapter (one request) and offers `pipelineName` / `pipelineStageName` beside
the ids; a write by name is turned into ids, and a name GHL does not have fails the record with a clear message.
Listing: GHL has no updated-since listing of opportunities, so every run reads them all (`GET /opportunities/search`,
oldest first, 100 per request) and unchanged ones are skipped by digest without a write.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from integrations.adapters.base import Page, Record
from integrations.adapters.ghl import GhlWriteShape, parse_timestamp
from integrations.adapters.ghl_related import DEFAULT_MAX_PAGES, LIST_MAX_LIMIT, _changed_since, _GhlAdapter, _id_of
from integrations.clients import exceptions as exc
from integrations.clients.ghl import GhlClient
from integrations.object_types import OPPORTUNITY

if TYPE_CHECKING:
    from integrations.models import Connection

FIELDS = tuple(f.name for f in OPPORTUNITY.ghl_fields)
NAME_FIELDS = ("pipelineName", "pipelineStageName")
MSG_NO_PIPELINE = 'GoHighLevel has no pipeline named "{name}"'
MSG_NO_STAGE = 'GoHighLevel has no stage named "{name}"{where}'
MSG_NEEDS_PIPELINE = "GoHighLevel needs a pipeline (by name or id) to create an opportunity"

OPPORTUNITY_WRITES = GhlWriteShape(
    object_type=OPPORTUNITY,
    create_operation="create-opportunity",
    update_operation="update-opportunity",
    app="opportunities",
    # The contact is the parent; the names are turned into ids by the adapter before the body is built.
    passthrough=frozenset({"contactId", *NAME_FIELDS}),
    supplied=frozenset({"locationId"}),
)


class GhlOpportunityAdapter(_GhlAdapter):
    """RecordAdapter for GHL opportunities of one location (plain ids; the contact is the parent)."""

    object_type = "opportunity"
    full_scan = True
    writes = OPPORTUNITY_WRITES

    def __init__(self, connection: Connection, *, client: GhlClient | None = None) -> None:
        super().__init__(connection, client=client)
        self._pipelines: list[dict[str, Any]] | None = None

    # -- pipelines by name --------------------------------------------------------------------------------------
    def pipelines(self) -> list[dict[str, Any]]:
        if self._pipelines is None:
            self._pipelines = [p for p in self.client.list_pipelines() if isinstance(p, dict)]
        return self._pipelines

    def _names(self, pipeline_id: Any, stage_id: Any) -> tuple[str | None, str | None]:
        for pipeline in self.pipelines():
            if _id_of(pipeline) == pipeline_id:
                stages = pipeline.get("stages") or []
                stage = next((s for s in stages if isinstance(s, dict) and _id_of(s) == stage_id), None)
                return pipeline.get("name"), stage.get("name") if stage else None
        return None, None

    def _ids(self, values: dict[str, Any], current: Record | None) -> dict[str, Any]:
        """Replace pipelineName / pipelineStageName by the ids GHL stores."""
        values = dict(values)
        pipeline_name = values.pop("pipelineName", None)
        stage_name = values.pop("pipelineStageName", None)
        pipeline_id = values.get("pipelineId") or (current.values.get("pipelineId") if current else None)
        if pipeline_name:
            pipeline = self._by_name(self.pipelines(), str(pipeline_name))
            if pipeline is None:
                raise exc.ApiValidationError(MSG_NO_PIPELINE.format(name=pipeline_name))
            pipeline_id = values["pipelineId"] = _id_of(pipeline)
        if stage_name:
            candidates = [p for p in self.pipelines() if not pipeline_id or _id_of(p) == pipeline_id]
            for pipeline in candidates:
                stage = self._by_name(pipeline.get("stages") or [], str(stage_name))
                if stage is not None:
                    values["pipelineStageId"] = _id_of(stage)
                    values.setdefault("pipelineId", _id_of(pipeline))
                    break
            else:
                where = f" in pipeline {pipeline_name or pipeline_id}" if pipeline_id else ""
                raise exc.ApiValidationError(MSG_NO_STAGE.format(name=stage_name, where=where))
        return values

    @staticmethod
    def _by_name(items: list[Any], name: str) -> dict[str, Any] | None:
        wanted = " ".join(name.split()).casefold()
        return next(
            (
                i
                for i in items
                if isinstance(i, dict) and " ".join(str(i.get("name") or "").split()).casefold() == wanted
            ),
            None,
        )

    def to_record(self, item: dict[str, Any]) -> Record:
        values: dict[str, Any] = {name: item.get(name) for name in FIELDS}
        values["id"] = _id_of(item)
        values["contactId"] = item.get("contactId") or (item.get("contact") or {}).get("id")
        values["pipelineName"], values["pipelineStageName"] = self._names(
            item.get("pipelineId"), item.get("pipelineStageId")
        )
        return Record(id=values["id"], values=values, updated_at=parse_timestamp(item.get("updatedAt")), raw=item)

    # -- reading ------------------------------------------------------------------------------------------------
    def iter_changes(self, *, cursor: dict[str, Any], since: datetime | None, page_size: int) -> Iterator[Page]:
        """Every opportunity, oldest first; cursor = {"start_after", "start_after_id"} inside a scan, {} after it."""
        start_after, start_after_id = cursor.get("start_after"), cursor.get("start_after_id")
        seen: set[str] = set()
        for _ in range(DEFAULT_MAX_PAGES):
            rows, meta = self.client.search_opportunities(
                limit=min(page_size, LIST_MAX_LIMIT), start_after=start_after, start_after_id=start_after_id
            )
            records = []
            for row in rows:
                record = self.to_record(row)
                if record.id and record.id not in seen:
                    seen.add(record.id)
                    records.append(record)
            next_after, next_id = meta.get("startAfter"), meta.get("startAfterId")
            has_more = (
                bool(rows) and bool(next_after and next_id) and (next_after, next_id) != (start_after, start_after_id)
            )
            yield Page(
                records=_changed_since(records, since),
                next_cursor={"start_after": str(next_after), "start_after_id": str(next_id)} if has_more else {},
                has_more=has_more,
                total=int(meta["total"]) if isinstance(meta.get("total"), int | float) and not start_after else None,
            )
            if not has_more:
                return
            start_after, start_after_id = str(next_after), str(next_id)
        raise exc.ApiBadResponse(f"GoHighLevel opportunity search did not end after {DEFAULT_MAX_PAGES} pages")

    def get(self, record_id: str) -> Record:
        """One opportunity by id; raises ApiNotFound."""
        return self.to_record(self.client.get_opportunity(record_id))

    def existing_ids(self, record_ids: Any) -> set[str]:
        wanted = set(record_ids)
        return {
            r.id for page in self.iter_changes(cursor={}, since=None, page_size=LIST_MAX_LIMIT) for r in page.records
        }.intersection(wanted)

    def find_by(self, field_name: str, value: str) -> Record | None:
        """Opportunities are matched through their record link only."""
        return None

    # -- writing ------------------------------------------------------------------------------------------------
    def prepare_write(self, values: dict[str, Any], *, create: bool) -> tuple[dict[str, Any], dict[str, str]]:
        return self.writes.prepare(values, create=create)

    def create(self, values: dict[str, Any]) -> Record:
        """Create an opportunity for values["contactId"] (status defaults to open; a pipeline is required)."""
        values, _ = self.prepare_write(values, create=True)
        body = self._ids(values, None)
        body.setdefault("status", "open")
        if not body.get("pipelineId"):
            raise exc.ApiValidationError(MSG_NEEDS_PIPELINE)
        self.writes.require_for_create(body)
        return self.to_record(self.client.create_opportunity(body))

    def update(self, record_id: str, values: dict[str, Any], current: Record | None = None) -> Record:
        """PUT the given fields (names turned into ids)."""
        values, _ = self.prepare_write(values, create=False)
        body = {k: v for k, v in self._ids(values, current).items() if k != "contactId"}
        if not body:
            return current if current is not None else self.get(record_id)
        return self.to_record(self.client.update_opportunity(record_id, body))

    def delete(self, record_id: str) -> None:
        """Delete an opportunity."""
        self.client.delete_opportunity(record_id)

    def sample(self) -> Record | None:
        """The first opportunity of the location, or None."""
        for page in self.iter_changes(cursor={}, since=None, page_size=1):
            return page.records[0] if page.records else None
        return None
