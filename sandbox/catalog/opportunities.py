"""Opportunities: stages that belong to their pipeline, status and stage timestamps, the contact with each
record, the search filters pollers use, the upsert's followers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sandbox.catalog.common import hook, iso, parse_moment, written
from sandbox.catalog.engine import RENDER_HOOKS, Call, Plan
from sandbox.catalog.rules import CONTACT, OPPORTUNITY
from sandbox.ghl import unprocessable
from sandbox.models import SandboxRecord

MSG_STAGE = "pipelineStageId must be a stage of the pipeline"
MSG_STATUS = "status must be one of the following values: open, won, lost, abandoned"
OPPORTUNITY_ORDERS = {
    "added_asc": "created",
    "added_desc": "-created",
    "updated_asc": "updated",
    "updated_desc": "-updated",
}


# ------------------------------------------------------------------------------
# Opportunities
# ------------------------------------------------------------------------------
@written(OPPORTUNITY)
def _opportunity_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """A stage must belong to the pipeline (default: its first stage); lastStatusChangeAt/lastStageChangeAt move
    when status/stage change. The contact's name and email are kept for the `q` search."""
    if data.get("status") == "all":
        raise unprocessable([MSG_STATUS])
    pipeline = call.referenced("pipelineId", data.get("pipelineId"))
    stages = [stage.get("id") for stage in (pipeline.data.get("stages") or [])] if pipeline is not None else []
    if not data.get("pipelineStageId") and stages:
        data["pipelineStageId"] = stages[0]
    elif stages and data.get("pipelineStageId") not in stages:
        raise unprocessable([MSG_STAGE])
    now = iso(call.now)
    if old is None or old.get("status") != data.get("status"):
        data["lastStatusChangeAt"] = now
    if old is None or old.get("pipelineStageId") != data.get("pipelineStageId"):
        data["lastStageChangeAt"] = now
    data["lastActionDate"] = now
    if old is None or old.get("contactId") != data.get("contactId"):
        contact = call.find(CONTACT, data["contactId"]) if isinstance(data.get("contactId"), str) else None
        parts = [contact.data.get(key) for key in ("firstName", "lastName", "email", "phone")] if contact else []
        data["_contactText"] = " ".join(str(part) for part in parts if part)
    return data


def _contact_summaries(records: list[SandboxRecord], ids: set[str]) -> dict[str, dict[str, Any]]:
    accounts = {record.account_id for record in records}
    contacts = SandboxRecord.objects.filter(
        account_id__in=accounts, object_type=CONTACT, record_id__in=ids, deleted=False
    )
    summaries = {}
    for contact in contacts:
        data = contact.data
        name = " ".join(part for part in (data.get("firstName"), data.get("lastName")) if part) or data.get("name")
        summaries[contact.record_id] = {
            "id": contact.record_id,
            "name": name or "",
            "companyName": data.get("companyName") or "",
            "email": data.get("email") or "",
            "phone": data.get("phone") or "",
            "tags": list(data.get("tags") or []),
        }
    return summaries


def _opportunity_views(call: Call, records: list[SandboxRecord], views: list[dict[str, Any]]) -> None:
    """The contact of each opportunity, read once per page."""
    ids = {view["contactId"] for view in views if isinstance(view.get("contactId"), str)}
    summaries = _contact_summaries(records, ids) if ids else {}
    for view in views:
        summary = summaries.get(view.get("contactId") or "")
        if summary is not None:
            view["contact"] = summary


RENDER_HOOKS[OPPORTUNITY] = _opportunity_views


@hook("opportunity_filters")
def opportunity_filters(call: Call, plan: Plan) -> None:
    """`order` (added_asc, added_desc; updated_asc, updated_desc for pollers), `date`/`endDate` on createdAt."""
    inputs = call.inputs()
    plan.consumed |= {"order", "date", "endDate", "country", "getTasks", "getNotes", "getCalendarEvents"}
    order = inputs.get("order")
    if isinstance(order, str) and order:
        if order not in OPPORTUNITY_ORDERS:
            raise unprocessable([f"order must be one of the following values: {', '.join(OPPORTUNITY_ORDERS)}"])
        plan.order = OPPORTUNITY_ORDERS[order]
    if inputs.get("date"):
        plan.qs = plan.qs.filter(created_at__gte=parse_moment(inputs["date"], "date"))
    if inputs.get("endDate"):
        end = parse_moment(inputs["endDate"], "endDate")
        if re.fullmatch(r"\d{2}-\d{2}-\d{4}", str(inputs["endDate"]).strip()):
            end += timedelta(days=1)  # a day given as mm-dd-yyyy includes that day
            plan.qs = plan.qs.filter(created_at__lt=end)
        else:
            plan.qs = plan.qs.filter(created_at__lte=end)


@hook("opportunity_upsert")
def opportunity_upsert(call: Call, record: SandboxRecord | None, body: dict[str, Any]) -> dict[str, Any]:
    """The upsert's follower instructions applied to the stored followers; monetaryValue kept only as a number
    (the spec types it `object`)."""
    followers = list(record.data.get("followers") or []) if record is not None else []
    given = body.pop("followers", None) or []
    action_type = body.pop("followersActionType", "add")
    if body.pop("isRemoveAllFollowers", False):
        followers = []
    elif action_type == "remove":
        followers = [user for user in followers if user not in given]
    else:
        followers = list(dict.fromkeys([*followers, *given]))
    body["followers"] = followers
    if not isinstance(body.get("monetaryValue"), int | float) or isinstance(body.get("monetaryValue"), bool):
        body.pop("monetaryValue", None)
    if record is None and not body.get("name"):
        body["name"] = "Opportunity"
    return body
