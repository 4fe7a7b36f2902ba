"""Record links (shared id pairs) and this mapping's per-record state, loaded and stored in bulk per page."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from integrations.models import MappingRecordState, RecordLink, System, UnlinkedRecord
from mappings.models import Mapping


def id_field(system: str) -> str:
    return "ghl_id" if system == System.GHL else "streettext_id"


def link_id(link: RecordLink | None, system: str) -> str:
    if link is None:
        return ""
    return link.ghl_id if system == System.GHL else link.streettext_id


def pair_links(mapping: Mapping, object_type: str | None = None) -> QuerySet[RecordLink]:
    """The record links of a mapping's pair of connections for one object type (the mapping's by default)."""
    return RecordLink.objects.filter(
        ghl_connection_id=mapping.ghl_connection_id,
        streettext_connection_id=mapping.streettext_connection_id,
        object_type=object_type or mapping.object_type,
    )


def pair_unlinked(mapping: Mapping, system: str) -> QuerySet[UnlinkedRecord]:
    """Records of the mapping's pair and type on `system` whose partner was deleted under the "unlink" policy."""
    return UnlinkedRecord.objects.filter(
        ghl_connection_id=mapping.ghl_connection_id,
        streettext_connection_id=mapping.streettext_connection_id,
        object_type=mapping.object_type,
        system=system,
    )


def unlinked_mark(mapping: Mapping, *, system: str, record_id: str, partner_id: str) -> None:
    """`record_id` (on `system`) lost its partner `partner_id` under the "unlink" policy: it stays unlinked."""
    UnlinkedRecord.objects.update_or_create(
        ghl_connection_id=mapping.ghl_connection_id,
        streettext_connection_id=mapping.streettext_connection_id,
        object_type=mapping.object_type,
        system=system,
        record_id=record_id,
        defaults={"partner_id": partner_id, "unlinked_at": timezone.now()},
    )


class LinkBook:
    """The links and states one page needs, each fetched with one query."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self.by_system: dict[str, dict[str, RecordLink]] = {System.GHL: {}, System.STREETTEXT: {}}
        self.states: dict[int, MappingRecordState] = {}
        # Links (pks) another mapping has synced: pairs known before this mapping first met them.
        self.known: set[int] = set()

    def clear(self) -> None:
        """Forget the previous page's links: memory stays flat however many pages a leg reads."""
        for index in self.by_system.values():
            index.clear()
        self.states.clear()
        self.known.clear()

    def load(self, system: str, ids: Iterable[str]) -> None:
        """Links whose `system` id is among `ids`, and this mapping's states of them."""
        wanted = [i for i in set(ids) if i and i not in self.by_system[system]]
        if not wanted:
            return
        links = list(pair_links(self.mapping).filter(**{f"{id_field(system)}__in": wanted}))
        for link in links:
            self._add(link)
        missing = [link.pk for link in links if link.pk not in self.states]
        if missing:
            for state in MappingRecordState.objects.filter(mapping=self.mapping, link_id__in=missing):
                self.states[state.link_id] = state

    def load_known(self, links: Iterable[RecordLink | None]) -> None:
        """Which of `links` (without this mapping's state) another mapping has synced, in one query."""
        wanted = {link.pk for link in links if link is not None and link.pk and link.pk not in self.states}
        wanted -= self.known
        if wanted:
            others = MappingRecordState.objects.filter(link_id__in=wanted).exclude(mapping=self.mapping)
            self.known.update(others.values_list("link_id", flat=True).distinct())

    def synced_before(self, link: RecordLink | None) -> bool:
        """The pair was synced before, by this mapping or another one (load_known first): not a new pairing."""
        return link is not None and bool(link.pk) and (link.pk in self.states or link.pk in self.known)

    def _add(self, link: RecordLink) -> None:
        self.by_system[System.GHL][link.ghl_id] = link
        self.by_system[System.STREETTEXT][link.streettext_id] = link

    def get(self, system: str, record_id: str) -> RecordLink | None:
        return self.by_system[system].get(record_id)

    def state(self, link: RecordLink | None) -> MappingRecordState | None:
        return self.states.get(link.pk) if link is not None and link.pk else None

    def forget(self, link: RecordLink) -> None:
        self.by_system[System.GHL].pop(link.ghl_id, None)
        self.by_system[System.STREETTEXT].pop(link.streettext_id, None)
        self.states.pop(link.pk, None)

    def create(
        self, *, ghl_id: str, streettext_id: str, origin: str, label: str = "", email: str = ""
    ) -> RecordLink | None:
        """Insert a link at once (a crash after a create must not lose the pairing). None if another run linked
        one of the two ids in the meantime."""
        link = RecordLink(
            ghl_connection_id=self.mapping.ghl_connection_id,
            streettext_connection_id=self.mapping.streettext_connection_id,
            object_type=self.mapping.object_type,
            ghl_id=ghl_id,
            streettext_id=streettext_id,
            origin=origin,
            label=label[:200],
            email=email[:254],
            last_synced_at=timezone.now(),
        )
        try:
            if connection.in_atomic_block:
                with transaction.atomic():  # a savepoint, so a clash does not break the outer transaction
                    link.save()
            else:
                link.save()  # autocommit: one statement, and a clash leaves nothing to roll back
        except IntegrityError:
            return None
        self._add(link)
        return link

    def existing_for(self, system: str, record_id: str) -> RecordLink | None:
        """The link that holds `record_id` on `system`, read from the database (after a failed insert)."""
        link = pair_links(self.mapping).filter(**{id_field(system): record_id}).first()
        if link is not None:
            self._add(link)
        return link


def states_save(mapping: Mapping, rows: dict[int, dict[str, Any]]) -> None:
    """Create or update this mapping's state of each link in `rows` (link pk -> field values) in one statement."""
    if not rows:
        return
    now = timezone.now()
    objects = [
        MappingRecordState(
            mapping=mapping,
            link_id=link_pk,
            digests=values["digests"],
            written=values["written"],
            config=values["config"],
            configs=values["configs"],
            synced_at=now,
        )
        for link_pk, values in rows.items()
    ]
    MappingRecordState.objects.bulk_create(
        objects,
        update_conflicts=True,
        unique_fields=["mapping", "link"],
        update_fields=["digests", "written", "config", "configs", "synced_at"],
    )
