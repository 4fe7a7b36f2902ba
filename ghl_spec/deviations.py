"""The one table of places where the project knowingly departs from GoHighLevel's official OpenAPI specs.

Each row sets one JSON-pointer location of one vendored spec file to another value, in memory, when the specs are
loaded (ghl_spec/spec.py); the files themselves stay byte-for-byte upstream. Every row states what the
spec says there today (`expect`, MISSING when the location does not exist): loading fails when that no longer holds,
so a defect fixed upstream is noticed at the next update instead of being patched twice. Nothing else in the project
may special-case the spec: the validator, the sandbox and the adapters all read the specs through this table.
See docs/ghl-spec.md for the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@dataclass(frozen=True)
class Deviation:
    app: str  # spec file: apps/<app>.json
    pointer: str  # RFC 6901 JSON pointer inside that file
    expect: Any  # what the spec holds there today (MISSING: nothing)
    value: Any  # what the project uses instead
    why: str  # plain words, shown in docs/ghl-spec.md and in errors when the row no longer applies


# dateOfBirth: typed `object` although its description lists text formats ("YYYY-MM-DD", …) and its example is the
# string "1990-09-25". A JSON object would be meaningless; the live API takes the string.
_DOB_WHY = "dateOfBirth is typed object, but its description and example are date strings such as 1990-09-25"
# Numeric and monetary custom-field values: `field_value` typed `object`, examples 100 and 100.5.
_NUMBER_WHY = "the field_value of {kind} custom fields is typed object, but its example is the number {example}"

DEVIATIONS: tuple[Deviation, ...] = (
    *(
        Deviation(
            app="contacts",
            pointer=f"/components/schemas/{dto}/properties/dateOfBirth/type",
            expect="object",
            value="string",
            why=_DOB_WHY,
        )
        for dto in ("CreateContactDto", "UpdateContactDto", "UpsertContactDto")
    ),
    Deviation(
        app="contacts",
        pointer="/components/schemas/NumericField/properties/field_value/type",
        expect="object",
        value="number",
        why=_NUMBER_WHY.format(kind="numeric", example=100),
    ),
    Deviation(
        app="contacts",
        pointer="/components/schemas/MonetoryField/properties/field_value/type",
        expect="object",
        value="number",
        why=_NUMBER_WHY.format(kind="monetary", example=100.5),
    ),
    # companyName on PUT /contacts/{contactId}: UpdateContactDto leaves it out, but GHL's docs issue #314 (tested
    # against a live sub-account, property by property) lists companyName among the properties PUT accepts, while the
    # same endpoint refuses undeclared ones ("property foobar should not exist"). Without it a contact's company could
    # never change after creation, so the project sends it, typed as on CreateContactDto.
    Deviation(
        app="contacts",
        pointer="/components/schemas/UpdateContactDto/properties/companyName",
        expect=MISSING,
        value={"type": "string", "example": "DGS VolMAX", "nullable": True},
        why=(
            "UpdateContactDto omits companyName, but the live API accepts it on PUT /contacts/{contactId} "
            "(GoHighLevel/highlevel-api-docs issue #314)"
        ),
    ),
    # POST /contacts/bulk/tags/update/{type}: the path has a {type} segment but the operation declares no `type`
    # parameter. Its description says tags are added or removed, and removeAllTags "can only be used with remove type".
    Deviation(
        app="contacts",
        pointer="/paths/~1contacts~1bulk~1tags~1update~1{type}/post/parameters/1",
        expect=MISSING,
        value={
            "name": "type",
            "in": "path",
            "required": True,
            "description": "add or remove",
            "schema": {"type": "string", "enum": ["add", "remove"]},
        },
        why=(
            "POST /contacts/bulk/tags/update/{type} declares no type path parameter; its description says the tags "
            "are added or removed"
        ),
    ),
    # Associations (added for the operations catalog): the labels and object keys of an association are typed
    # `object`, but every example is a string ("student", "custom_objects.children", "contact") and the descriptions
    # name a label or key. A JSON object there would be meaningless, and nothing could conform to both.
    *(
        Deviation(
            app="associations",
            pointer=f"/components/schemas/{dto}/properties/{name}/type",
            expect="object",
            value="string",
            why=f"{dto}.{name} is typed object, but its example and description are a text label or key",
        )
        for dto, names in (
            ("createAssociationReqDto", ("firstObjectLabel", "firstObjectKey", "secondObjectLabel", "secondObjectKey")),
            ("UpdateAssociationReqDto", ("firstObjectLabel", "secondObjectLabel")),
        )
        for name in names
    ),
)
