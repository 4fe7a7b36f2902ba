"""One record, synced again on request: "Sync this record now" and "Retry" (after a fix) on the record page.

Both are runs limited to that record (SyncRun.only_ids): the engine reads it again and writes what changed. Which id
a run needs is the one of the side each direction reads: the source in sync mode, the target in enrich mode (the
same rule as sync_run_rerun_failed).
"""

from __future__ import annotations

from integrations.models import RecordHistory, SyncRun, System
from integrations.services.runs import SyncRequestRefused, sync_run_request
from mappings.models import Direction, Mapping

NO_ID_FOR_MAPPING = (
    "“{mapping}” reads {systems} records and this record has no {systems} id yet; sync it from the other side first."
)
NOTHING_TO_RETRY = "The latest result of this record under “{mapping}” is not a failure; there is nothing to retry."


def read_system(*, mapping: Mapping, direction: str) -> str:
    """The system a direction of the mapping reads records from (enrich mode reads the targets it fills)."""
    reads_ghl = (direction == Direction.TO_STREETTEXT) != (mapping.mode == Mapping.Mode.ENRICH)
    return System.GHL if reads_ghl else System.STREETTEXT


def record_only_ids(
    *, mapping: Mapping, ids: dict[str, str], directions: list[str] | None = None
) -> dict[str, list[str]]:
    """{"ghl": [id]} / {"streettext": [id]} for the directions given (default: every direction the mapping runs)."""
    only: dict[str, list[str]] = {}
    for direction in directions or mapping.directions:
        system = read_system(mapping=mapping, direction=direction)
        if ids.get(system):
            only[system] = [ids[system]]
    return only


def record_sync_request(
    *, mapping: Mapping, ghl_id: str = "", streettext_id: str = "", requested_by: str = ""
) -> SyncRun:
    """A manual run of `mapping` limited to this one record. Raises SyncRequestRefused (with the reason)."""
    only = record_only_ids(mapping=mapping, ids={System.GHL: ghl_id, System.STREETTEXT: streettext_id})
    if not only:
        systems = " or ".join(
            sorted({str(System(read_system(mapping=mapping, direction=d)).label) for d in mapping.directions})
        )
        raise SyncRequestRefused(NO_ID_FOR_MAPPING.format(mapping=mapping, systems=systems))
    return sync_run_request(mapping=mapping, trigger=SyncRun.Trigger.MANUAL, only_ids=only, requested_by=requested_by)


def record_retry_request(*, failed: RecordHistory, requested_by: str = "") -> SyncRun:
    """A re-run of the failed side of one failed history row (after the cause was fixed)."""
    mapping = failed.mapping
    if failed.action != RecordHistory.Action.FAILED:
        raise SyncRequestRefused(NOTHING_TO_RETRY.format(mapping=mapping))
    only = record_only_ids(
        mapping=mapping,
        ids={System.GHL: failed.ghl_id, System.STREETTEXT: failed.streettext_id},
        directions=[failed.direction] if failed.direction in mapping.directions else None,
    )
    if not only:
        raise SyncRequestRefused(NOTHING_TO_RETRY.format(mapping=mapping))
    return sync_run_request(
        mapping=mapping,
        trigger=SyncRun.Trigger.RERUN,
        only_ids=only,
        rerun_of=failed.run,
        requested_by=requested_by,
    )
