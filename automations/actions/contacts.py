"""A contact named by its id on one system, found (or created) on the other: what lets a GoHighLevel trigger item
(an appointment's contactId) reach StreetText, and a StreetText contact reach GoHighLevel.

Order: the record link the sync mappings keep for the pair of connections; else the contact read on its own system
and looked up on the other by email, then phone; else, when allowed, created there. A create is found again by the
same email or phone, so a retry never makes a second one; a contact with neither is never created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automations.actions.errors import ActionFailed
from integrations.catalog.services import catalog_execute
from integrations.clients import exceptions as exc
from integrations.models import RecordLink
from mappings.transforms import TransformError, phone_e164

if TYPE_CHECKING:
    from automations.actions.base import ActionContext

MSG_GHL_UNREADABLE = "The GoHighLevel contact {id} could not be read: {error}"
MSG_STREETTEXT_UNREADABLE = "The StreetText contact {id} could not be read: {error}"
MSG_NOT_FOUND_ST = "GoHighLevel contact {id} has no StreetText contact (no link, no match by email or phone){why}."
MSG_NOT_FOUND_GHL = "StreetText contact {id} has no GoHighLevel contact (no link, no match by email or phone){why}."
MSG_NO_KEYS = "; it has no email or phone to create it by"
MSG_NOT_CREATING = "; creating missing contacts is off for this action"
MSG_GHL_CREATE_FAILED = "The contact could not be created in GoHighLevel: {error}"


def _e164(value: Any, region: str) -> str | None:
    try:
        return phone_e164(value, region=region) if value else None
    except TransformError:
        return None


class ContactResolver:
    def __init__(self, ctx: ActionContext) -> None:
        self.ctx = ctx
        self.automation = ctx.automation
        self._st_for_ghl: dict[str, str] = {}
        self._ghl_for_st: dict[str, str] = {}
        self._st_for_email: dict[str, str] = {}

    def _links(self) -> Any:
        return RecordLink.objects.filter(
            ghl_connection_id=self.automation.ghl_connection_id,
            streettext_connection_id=self.automation.streettext_connection_id,
            object_type="contact",
        )

    # -- GoHighLevel contact -> StreetText ------------------------------------------------------------------------
    def streettext_for_ghl(self, ghl_id: str, *, create: bool) -> str:
        """The StreetText contact id of a GoHighLevel contact."""
        ghl_id = str(ghl_id)
        if ghl_id in self._st_for_ghl:
            return self._st_for_ghl[ghl_id]
        linked = self._links().filter(ghl_id=ghl_id).values_list("streettext_id", flat=True).first()
        if linked:
            self._st_for_ghl[ghl_id] = linked
            return linked
        read = catalog_execute(
            connection=self.automation.ghl_connection, key="get-contact", params={"contactId": ghl_id}, log=False
        )
        if not read.ok:
            if isinstance(read.exception, exc.TransientApiError):
                raise read.exception
            raise ActionFailed(MSG_GHL_UNREADABLE.format(id=ghl_id, error=read.error or "no answer"))
        contact = read.items[0] if read.items else {}
        found = self._streettext_lookup(contact.get("email"), contact.get("phone"))
        if found is None:
            found = self._streettext_create(
                ghl_id,
                create=create,
                data={
                    "first_name": contact.get("firstName"),
                    "last_name": contact.get("lastName"),
                    "email": contact.get("email"),
                    "phone": contact.get("phone"),
                },
            )
        self._st_for_ghl[ghl_id] = found
        return found

    def streettext_for_email(self, email: str, *, create: bool, names: dict[str, Any] | None = None) -> str:
        """The StreetText contact with this email (created with the names given when allowed)."""
        key = str(email).strip().lower()
        if key in self._st_for_email:
            return self._st_for_email[key]
        found = self._streettext_lookup(key, None)
        if found is None:
            found = self._streettext_create(key, create=create, data={"email": key, **(names or {})})
        self._st_for_email[key] = found
        return found

    def _streettext_lookup(self, email: Any, phone: Any) -> str | None:
        client = self.ctx.streettext
        if email:
            page = client.list_contacts(limit=1, email=str(email).strip())
            if page["data"]:
                return str(page["data"][0]["id"])
        number = _e164(phone, self.automation.phone_region)
        if number:
            page = client.list_contacts(limit=1, phone=number)
            if page["data"]:
                return str(page["data"][0]["id"])
        return None

    def _streettext_create(self, name: str, *, create: bool, data: dict[str, Any]) -> str:
        data = {**data, "phone": _e164(data.get("phone"), self.automation.phone_region)}
        if not (data.get("email") or data.get("phone")):
            raise ActionFailed(MSG_NOT_FOUND_ST.format(id=name, why=MSG_NO_KEYS))
        if not create:
            raise ActionFailed(MSG_NOT_FOUND_ST.format(id=name, why=MSG_NOT_CREATING))
        clean = {k: v for k, v in data.items() if v not in (None, "")}
        try:
            return str(self.ctx.streettext.create_contact(clean)["id"])
        except exc.ApiValidationError as e:
            # 409: made meanwhile (a lost answer to an earlier create): the lookup finds it now.
            again = self._streettext_lookup(clean.get("email"), clean.get("phone")) if e.status_code == 409 else None
            if again is None:
                raise ActionFailed(str(e)) from e
            return again

    # -- StreetText contact -> GoHighLevel ------------------------------------------------------------------------
    def ghl_for_streettext(self, st_id: str, *, create: bool) -> str:
        """The GoHighLevel contact id of a StreetText contact."""
        st_id = str(st_id)
        if st_id in self._ghl_for_st:
            return self._ghl_for_st[st_id]
        linked = self._links().filter(streettext_id=st_id).values_list("ghl_id", flat=True).first()
        if linked:
            self._ghl_for_st[st_id] = linked
            return linked
        try:
            contact = self.ctx.streettext.get_contact(st_id)
        except exc.TransientApiError:
            raise
        except exc.ApiError as e:
            raise ActionFailed(MSG_STREETTEXT_UNREADABLE.format(id=st_id, error=e)) from e
        email = contact.get("email")
        phone = _e164(contact.get("phone"), self.automation.phone_region)
        found = None
        for inputs in ({"email": email} if email else None, {"phone": phone} if phone else None):
            if inputs is None:
                continue
            search = catalog_execute(
                connection=self.automation.ghl_connection, key="find-contact", params=inputs, log=False
            )
            if not search.ok:
                if isinstance(search.exception, exc.TransientApiError):
                    raise search.exception
                continue
            # Find Contact is an action over POST /contacts/search: its answer is {contacts: [...]}.
            matches = (search.data or {}).get("contacts") if isinstance(search.data, dict) else None
            if matches:
                found = str(matches[0]["id"])
                break
        if found is None:
            if not (email or phone):
                raise ActionFailed(MSG_NOT_FOUND_GHL.format(id=st_id, why=MSG_NO_KEYS))
            if not create:
                raise ActionFailed(MSG_NOT_FOUND_GHL.format(id=st_id, why=MSG_NOT_CREATING))
            body = {
                "firstName": contact.get("first_name"),
                "lastName": contact.get("last_name"),
                "email": email,
                "phone": phone,
            }
            # Upsert: a repeat after a lost answer matches the contact made the first time (by email or phone).
            made = catalog_execute(
                connection=self.automation.ghl_connection,
                key="upsert-contact",
                body={k: v for k, v in body.items() if v},
                log=True,
            )
            if not made.ok:
                if isinstance(made.exception, exc.TransientApiError):
                    raise made.exception
                raise ActionFailed(MSG_GHL_CREATE_FAILED.format(error="; ".join([made.error, *made.messages])))
            found = str((made.data or {}).get("contact", {}).get("id") or "")
            if not found:
                raise ActionFailed(MSG_GHL_CREATE_FAILED.format(error="the answer has no contact id"))
        self._ghl_for_st[st_id] = found
        return found
