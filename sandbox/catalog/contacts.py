"""Contacts (followers, workflow and campaign memberships, bulk tags) and users."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox import services
from sandbox.catalog.common import action, hook, iso, written
from sandbox.catalog.engine import Call, Plan, update_record
from sandbox.catalog.rules import CONTACT, OPPORTUNITY
from sandbox.ghl import Result, ghl_error
from sandbox.models import SandboxAccount, SandboxRecord

MEMBERSHIPS = {"workflowId": "contacts.workflows", "campaignId": "contacts.campaigns"}
MSG_USER_EXISTS = "A user with this email already exists"


# ------------------------------------------------------------------------------
# Contacts: followers, workflow and campaign memberships, bulk tags
# ------------------------------------------------------------------------------
def _follow_target(call: Call) -> SandboxRecord:
    if call.rule.resource == CONTACT:
        return call.req.contact(call.params["contactId"])
    return call.get(OPPORTUNITY, call.params["id"])


@action("followers_add")
def followers_add(call: Call) -> Result:
    record = _follow_target(call)
    before = list(record.data.get("followers") or [])
    wanted = list(dict.fromkeys(call.body.get("followers") or []))
    added = [user for user in wanted if user not in before]
    if added:
        update_record(call, record, {"followers": [*before, *added]})
    return call.answer(values={"followers": [*before, *added], "followersAdded": added})


@action("followers_remove")
def followers_remove(call: Call) -> Result:
    record = _follow_target(call)
    before = list(record.data.get("followers") or [])
    remove_all = call.req.query.get("isRemoveAllFollowers") == "true"
    unwanted = set(before) if remove_all else set(call.body.get("followers") or [])
    kept = [user for user in before if user not in unwanted]
    removed = [user for user in before if user in unwanted]
    if removed:
        update_record(call, record, {"followers": kept})
    return call.answer(values={"followers": kept, "followersRemoved": removed})


def _memberships(call: Call, contact: SandboxRecord, of: str) -> Any:
    return services.live_records(account=contact.account, object_type=MEMBERSHIPS[of]).filter(
        data__contactId=contact.record_id
    )


@action("membership_add")
def membership_add(call: Call) -> Result:
    """Add a contact to a workflow or campaign: one membership record (created_at = when it was added), kept apart
    from the contact so the contact's dateUpdated does not move (GHL's does not)."""
    of = call.rule.options["of"]
    contact = call.req.contact(call.params["contactId"])
    target = call.referenced(of, call.params[of])
    assert target is not None
    existing = _memberships(call, contact, of).filter(**{f"data__{of}": target.record_id}).first()
    if existing is None:
        data = {"contactId": contact.record_id, of: target.record_id, "name": target.data.get("name")}
        if isinstance(call.body, dict) and call.body.get("eventStartTime"):
            data["eventStartTime"] = call.body["eventStartTime"]
        services.sandbox_record_put(account=contact.account, object_type=MEMBERSHIPS[of], data=data)
    return call.answer()


@action("membership_remove")
def membership_remove(call: Call) -> Result:
    of = call.rule.options["of"]
    contact = call.req.contact(call.params["contactId"])
    for membership in _memberships(call, contact, of).filter(**{f"data__{of}": call.params[of]}):
        services.sandbox_record_delete(record=membership)
    return call.answer()


@action("membership_clear")
def membership_clear(call: Call) -> Result:
    contact = call.req.contact(call.params["contactId"])
    for membership in _memberships(call, contact, call.rule.options["of"]).order_by("record_id"):
        services.sandbox_record_delete(record=membership)
    return call.answer()


def memberships_of(*, account: SandboxAccount, contact_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """A contact's (or every contact's) live workflow and campaign memberships, oldest first (for the control
    endpoint and tests: GHL's API has no read for them)."""
    result: dict[str, list[dict[str, Any]]] = {}
    for resource in MEMBERSHIPS.values():
        rows = services.live_records(account=account, object_type=resource)
        if contact_id:
            rows = rows.filter(data__contactId=contact_id)
        result[resource.split(".")[1]] = [
            {**row.data, "id": row.record_id, "addedAt": iso(row.created_at)}
            for row in rows.order_by("created_at", "record_id")
        ]
    return result


@action("contacts_bulk_tags")
def contacts_bulk_tags(call: Call) -> Result:
    """POST /contacts/bulk/tags/update/{type}: add or remove tags on many contacts (removeAllTags clears them)."""
    account = call.home()
    adding = call.params["type"] == "add"
    tags = [tag.strip() for tag in call.body.get("tags") or [] if isinstance(tag, str) and tag.strip()]
    wanted = list(dict.fromkeys(call.body.get("contacts") or []))
    found = {
        row.record_id: row
        for row in services.live_records(account=account, object_type=CONTACT).filter(record_id__in=wanted)
    }
    responses = []
    for contact_id in wanted:
        contact = found.get(contact_id)
        if contact is None:
            responses.append(f"{contact_id}: Contact not found")
            continue
        current = list(contact.data.get("tags") or [])
        if adding:
            new = list(dict.fromkeys([*current, *tags]))
        elif call.body.get("removeAllTags"):
            new = []
        else:
            new = [tag for tag in current if tag not in tags]
        if new != current:
            services.sandbox_record_put(
                account=account, object_type=CONTACT, record_id=contact_id, data={**contact.data, "tags": new}
            )
    return call.answer(values={"succeded": True, "errorCount": len(responses), "responses": responses})


# ------------------------------------------------------------------------------
# Users
# ------------------------------------------------------------------------------
@written("users")
def _user_written(call: Call, old: Mapping[str, Any] | None, data: dict[str, Any]) -> dict[str, Any]:
    """name from first and last name; type, role and locationIds of the body kept under `roles` as GHL answers."""
    name = " ".join(str(part) for part in (data.get("firstName"), data.get("lastName")) if part)
    data["name"] = name or data.get("name") or ""
    roles = dict(data.get("roles") or {})
    for key in ("type", "role", "locationIds"):
        if key in data:
            roles[key] = data.pop(key)
    data["roles"] = roles
    email = data.get("email")
    if isinstance(email, str) and (old is None or old.get("email") != email):
        clash = call.records("users").filter(email_lower=email.strip().lower())
        if clash.exists():
            raise ghl_error(400, MSG_USER_EXISTS, "Bad Request")
    return data


@hook("users_filters")
def users_filters(call: Call, plan: Plan) -> None:
    """`type` and `role` are inside `roles`; `sort` by dateAdded/dateUpdated (default: first, then last name)."""
    inputs = call.inputs()
    plan.consumed |= {"companyId", "type", "role", "sort", "sortDirection", "enabled2waySync"}
    for key in ("type", "role"):
        if inputs.get(key):
            plan.qs = plan.qs.filter(**{f"data__roles__{key}": inputs[key]})
    sort = inputs.get("sort")
    descending = str(inputs.get("sortDirection") or "asc").lower() == "desc"
    if sort in ("dateAdded", "dateUpdated"):
        plan.order = ("-" if descending else "") + ("created" if sort == "dateAdded" else "updated")


@hook("users_by_email")
def users_by_email(call: Call, plan: Plan) -> None:
    body = call.body
    plan.consumed |= {"companyId", "emails", "projection", "deleted"}
    if body.get("deleted") is True:
        plan.qs = call.records("users", deleted=True)
    emails = [part.strip().lower() for part in str(body.get("emails") or "").split(",") if part.strip()]
    plan.qs = plan.qs.filter(email_lower__in=emails)
