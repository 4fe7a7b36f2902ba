"""The sync engine: one run of one mapping, leg by leg (GHL → StreetText, StreetText → GHL).

Where things are:
- run.py       a run: legs, totals, cancel, how errors end it
- reading.py   where pages come from: the change feed after the cursor, named ids, every linked record
- leg.py       one page in sync mode: match a page, write it
- lanes.py     a page's writes several at once: a record's one after the other, one thread at a time but for waits
- items.py     a record on its way through a page, and what a page produces
- store.py     storing a page: history, this mapping's states, cursor and progress in one transaction
- enrich.py    one page in enrich mode (changed targets filled from their match on the source)
- plan.py      field by field, what to write (changed fields only, lists merged, target edits kept, conflicts)
- parents.py   child records attach through their parent's link; parents synced first; references translated
- followups.py follow-up rules (once per contact and rule: a GHL task, a workflow or campaign, followers)
- deletions.py delete policies and the deletion check
- links.py     record links and this mapping's per-record state, in bulk
- values.py    pure helpers: comparable values, digests, match keys, list merge
"""

from __future__ import annotations

from integrations.services.sync.context import ConnectionAuthFailed, RunCancelled, source_fields
from integrations.services.sync.outcomes import Outcome
from integrations.services.sync.run import sync_run_execute
from integrations.services.sync.values import digest, match_value, normalize, same_value

__all__ = [
    "ConnectionAuthFailed",
    "Outcome",
    "RunCancelled",
    "digest",
    "match_value",
    "normalize",
    "same_value",
    "source_fields",
    "sync_run_execute",
]
