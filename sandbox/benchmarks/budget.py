"""A steady day's GHL requests at scale, against the location's daily budget (integrations/services/budget.py).

Measured on M real sandbox contacts (default 2,000; `--budget-contacts`), with the demo's notes, tasks and
appointments, a two-way contacts mapping and the notes, tasks and appointments mappings (GHL → StreetText) every
15 minutes; rate limits off (the figures are requests, not waits). What is measured, each from the sandbox's GHL
request counter:

- a scheduled contacts run with nothing changed (per run);
- 2 % of the contacts changed in GHL, then one scheduled contacts run (per changed contact); the same with as many
  contacts changed in StreetText (each written to GHL);
- a webhook-driven run of one changed contact and of one new note (per webhook), and its time from the change to the
  record synced (in-process: the run is executed as soon as it is requested; a worker adds its pick-up delay);
- one slice of the notes scan (per contact scanned), one full task listing (per task);
- a deletion check of the contacts (per linked contact).

The day is then modelled at N contacts (default 100,000; `--budget-model-contacts`), linearly from those unit
costs: 96 scheduled runs of each mapping; 2 % of N contacts change in GHL (each announced by a webhook and seen again
by the change feed), as many in StreetText (each written to GHL) and as many notes are added (each announced by a
webhook); the deletion checks as often as the budget
lets them (`budget.deletion_check_minutes`); the notes and appointments scans as the real pacing code reads them over
a day of 96 runs (`budget.scan_slice`, replayed); one full task listing a day (tasks per contact as in the demo). No
automation polls. The goal: the day costs at most 25 % of GHL's 200,000 daily limit.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.db import connections
from django.test.utils import override_settings

from sandbox.benchmarks import servers
from sandbox.benchmarks.report import Row, at_most, info

NAME = "budget"
HELP = "a steady day's GHL requests at 100k contacts (modelled from measured unit costs) and webhook sync latency"
CONTACTS = {"default": 2_000, "100k": 10_000, "1m": 10_000}
GOALS = {"day_percent": 25.0, "webhook_seconds": 60.0}
DAILY_LIMIT = 200_000
RUNS_PER_DAY = 96  # every 15 minutes
CHANGING = 0.02
WEBHOOK_SAMPLES = 20
LOCATION, TOKEN, ST_KEY = "loc-budget-bench", "pit-budget-bench", "st-budget-bench"
UNLIMITED = {"SANDBOX_RATE_LIMIT": "1000000", "SANDBOX_STREETTEXT_RATE_LIMIT": "1000000"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget-contacts", type=int, default=None, help="Real sandbox contacts measured on.")
    parser.add_argument("--budget-model-contacts", type=int, default=100_000, help="Contacts the day is modelled at.")


def _ghl_requests() -> int:
    from sandbox import services as sandbox

    return int(sandbox.sandbox_stats().get("ghl", {}).get("requests", 0))


def _execute(mapping: Any, trigger: str, **fields: Any) -> Any:
    from integrations.models import SyncRun
    from integrations.services import sync

    run = SyncRun.objects.create(mapping=mapping, trigger=trigger, **fields)
    sync.sync_run_execute(run_id=run.pk)
    run.refresh_from_db()
    if run.status not in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL):
        raise RuntimeError(f"budget benchmark: run {run.pk} of {mapping} ended {run.status}: {run.error}")
    return run


def _counted(fn: Callable[[], Any]) -> tuple[Any, int]:
    before = _ghl_requests()
    result = fn()
    return result, _ghl_requests() - before


def _touch_ghl_contacts(ids: list[str], *, tag: str) -> None:
    """Change one mapped field (the last name) on GHL contacts, as a person would (the record's dateUpdated moves)."""
    from sandbox import services as sandbox
    from sandbox.models import SandboxRecord

    for record in SandboxRecord.objects.filter(
        account__account_id=LOCATION, object_type="contact", record_id__in=ids
    ).select_related("account"):
        sandbox.sandbox_record_put(
            account=record.account,
            object_type="contact",
            record_id=record.record_id,
            data={**record.data, "lastName": f"{record.data.get('lastName') or ''}-{tag}"},
            existing=record,
        )


def _touch_streettext_contacts(ids: list[str], *, tag: str) -> None:
    """Change one mapped field (the last name) on StreetText contacts: the two-way mapping writes each to GHL."""
    from sandbox import services as sandbox
    from sandbox.models import SandboxRecord

    for record in SandboxRecord.objects.filter(
        account__system="streettext", object_type="contact", record_id__in=ids
    ).select_related("account"):
        sandbox.sandbox_record_put(
            account=record.account,
            object_type="contact",
            record_id=record.record_id,
            data={**record.data, "last_name": f"{record.data.get('last_name') or ''}-{tag}"},
            existing=record,
        )


def _replay_scan_day(mapping: Any, *, contacts: int) -> int:
    """Contacts the real pacing lets one scan read over a steady day of RUNS_PER_DAY runs at `contacts` contacts."""
    from integrations.services import budget

    position: dict[str, Any] = {budget.CONTACTS_KEY: contacts}
    start = datetime(2026, 1, 5, tzinfo=UTC)
    read = 0
    for day in (0, 1):  # the first day reaches the steady state; the second is counted
        for i in range(RUNS_PER_DAY):
            now = start + timedelta(days=day) + timedelta(days=1) * i / RUNS_PER_DAY
            allowed = budget.scan_slice(mapping, position, now=now)
            left = contacts - int(position.get(budget.PASS_DONE_KEY) or 0)
            done = min(allowed.contacts, left)
            position.update(
                budget.scan_position_after(
                    position,
                    credit=allowed.credit,
                    scanned=done,
                    contacts=contacts,
                    now=now,
                    pass_ended=done >= left,
                )
            )
            if day == 1:
                read += done
    return read


def run(options: dict[str, Any], log: Callable[[str], None]) -> list[Row]:
    size = options.get("budget_contacts") or CONTACTS[options.get("size") or "default"]
    model = int(options.get("budget_model_contacts") or 100_000)
    workdir = Path(tempfile.mkdtemp(prefix="streetsync-budget-"))
    try:
        with (
            servers.SandboxServer(workdir / "server.log", **UNLIMITED) as server,
            override_settings(RATE_LIMIT_BACKEND="off", STREETTEXT_RATE_LIMIT_MAX=0),
        ):
            rows = _measure(server.base_url, size=size, model=model, log=log)
    except servers.BenchmarkError as e:
        log(f"kept the logs in {workdir}")
        raise RuntimeError(str(e)) from e
    finally:
        connections.close_all()
    shutil.rmtree(workdir, ignore_errors=True)
    return rows


def _measure(base_url: str, *, size: int, model: int, log: Callable[[str], None]) -> list[Row]:
    from integrations.models import RecordLink, SyncCursor, SyncRun, System
    from integrations.services import budget
    from mappings.models import Direction
    from mappings.presets import preset_create
    from mappings.services import mapping_create_with_defaults
    from sandbox.connections import sandbox_connection
    from sandbox.demo import sandbox_seed_demo, sandbox_seed_demo_children
    from sandbox.models import SandboxRecord

    log(f"seeding {size:,} demo contacts with notes, tasks and appointments")
    seeded = sandbox_seed_demo(ghl_location_id=LOCATION, ghl_token=TOKEN, streettext_api_key=ST_KEY, size=size)
    sandbox_seed_demo_children(ghl_location_id=LOCATION, streettext_api_key=ST_KEY)
    ghl = sandbox_connection(
        system=System.GHL, name="Budget GHL", base_url=base_url, secret=TOKEN, location_id=LOCATION
    )
    st = sandbox_connection(system=System.STREETTEXT, name="Budget StreetText", base_url=base_url, secret=ST_KEY)
    contacts_mapping = mapping_create_with_defaults(
        name="Budget contacts", ghl_connection=ghl, streettext_connection=st, direction=Direction.BOTH
    )
    contacts_mapping.schedule_minutes = 15
    contacts_mapping.save()
    notes, tasks, appointments = preset_create(key="historical_enrichment", ghl=ghl, streettext=st)
    for m in (notes, tasks, appointments):
        m.schedule_minutes = 15
        m.save()

    log("first sync: contacts, then notes, tasks and appointments in full")
    _execute(contacts_mapping, SyncRun.Trigger.MANUAL)
    ghl_contacts = SandboxRecord.objects.filter(account__account_id=LOCATION, object_type="contact", deleted=False)
    m_contacts = ghl_contacts.count()
    _run, notes_pass = _counted(lambda: _execute(notes, SyncRun.Trigger.MANUAL))
    _run, tasks_pass = _counted(lambda: _execute(tasks, SyncRun.Trigger.MANUAL))
    _execute(appointments, SyncRun.Trigger.MANUAL)
    m_tasks = SandboxRecord.objects.filter(account__account_id=LOCATION, object_type="task", deleted=False).count()

    log("steady state: an idle scheduled contacts run, then 2 % of the contacts changed in GHL")
    SyncCursor.objects.filter(mapping=contacts_mapping).update(deletions_checked_at=datetime.now(tz=UTC))
    _run, idle = _counted(lambda: _execute(contacts_mapping, SyncRun.Trigger.SCHEDULE))
    ids = list(ghl_contacts.order_by("record_id").values_list("record_id", flat=True))
    changed = ids[: max(1, round(CHANGING * len(ids)))]
    _touch_ghl_contacts(changed, tag="feed")
    SyncCursor.objects.filter(mapping=contacts_mapping).update(deletions_checked_at=datetime.now(tz=UTC))
    _run, feed = _counted(lambda: _execute(contacts_mapping, SyncRun.Trigger.SCHEDULE))
    per_change_feed = max(0, feed - idle) / len(changed)
    st_changed = list(
        RecordLink.objects.filter(object_type="contact").order_by("-pk").values_list("streettext_id", flat=True)
    )[: len(changed)]
    _touch_streettext_contacts(st_changed, tag="feed")
    SyncCursor.objects.filter(mapping=contacts_mapping).update(deletions_checked_at=datetime.now(tz=UTC))
    _run, st_feed = _counted(lambda: _execute(contacts_mapping, SyncRun.Trigger.SCHEDULE))
    per_st_change = max(0, st_feed - idle) / max(1, len(st_changed))

    log(f"{WEBHOOK_SAMPLES} webhook-driven runs of one changed contact and of one new note")
    hook_costs, hook_seconds = [], []
    linked = list(RecordLink.objects.filter(object_type="contact").values_list("ghl_id", flat=True)[:WEBHOOK_SAMPLES])
    for n, contact_id in enumerate(linked):
        changed_at = time.monotonic()
        _touch_ghl_contacts([contact_id], tag=f"hook{n}")
        _run, cost = _counted(
            partial(
                _execute,
                contacts_mapping,
                SyncRun.Trigger.WEBHOOK,
                scope=SyncRun.Scope.IDS,
                only_ids={"ghl": [contact_id]},
            )
        )
        hook_seconds.append(time.monotonic() - changed_at)
        hook_costs.append(cost)
    note_costs = []
    from integrations.adapters.clients import ghl_client_for

    client = ghl_client_for(ghl)
    for n, contact_id in enumerate(linked):
        note = client.create_note(contact_id, {"body": f"Budget benchmark note {n}"})
        note_id = f"{contact_id}/{note.get('id')}"
        changed_at = time.monotonic()
        _run, cost = _counted(
            partial(_execute, notes, SyncRun.Trigger.WEBHOOK, scope=SyncRun.Scope.IDS, only_ids={"ghl": [note_id]})
        )
        hook_seconds.append(time.monotonic() - changed_at)
        note_costs.append(cost)

    log("one slice of the notes scan and one contacts deletion check")
    cursor = SyncCursor.objects.get(mapping=notes, system=System.GHL)
    cursor.position = {
        **cursor.position,
        budget.CREDIT_KEY: 500,
        budget.CREDIT_AT_KEY: datetime.now(tz=UTC).isoformat(),
    }
    cursor.save(update_fields=["position"])
    slice_run, slice_cost = _counted(lambda: _execute(notes, SyncRun.Trigger.SCHEDULE))
    per_contact_scan = slice_cost / max(1, slice_run.scan_done or 0)
    SyncCursor.objects.filter(mapping=contacts_mapping).update(deletions_checked_at=None)
    _run, with_check = _counted(lambda: _execute(contacts_mapping, SyncRun.Trigger.SCHEDULE))
    per_contact_check = max(0, with_check - idle) / m_contacts

    # ---- the day at `model` contacts ----
    changes = CHANGING * model
    checks_minutes = budget.deletion_check_minutes(contacts_mapping, linked=model, per_request=500)
    checks = min(RUNS_PER_DAY, 1440 / checks_minutes) if checks_minutes else RUNS_PER_DAY
    scanned = {m.pk: _replay_scan_day(m, contacts=model) for m in (notes, appointments)}
    day = {
        "contacts: scheduled runs (change feed)": RUNS_PER_DAY * idle,
        "contacts: GHL changes read by the feed": changes * per_change_feed,
        "contacts: StreetText changes written to GHL (as many as GHL's)": changes * per_st_change,
        "contacts: webhook-driven runs": changes * statistics.mean(hook_costs),
        "notes: webhook-driven runs (as many new notes as changed contacts)": changes * statistics.mean(note_costs),
        "contacts: deletion checks": checks * per_contact_check * model,
        "notes scan (budget-paced)": scanned[notes.pk] * per_contact_scan,
        "appointments scan (budget-paced)": scanned[appointments.pk] * per_contact_scan,
        "tasks: one full listing a day": math.ceil(m_tasks / m_contacts * model / 100),
    }
    total = sum(day.values())
    plan = budget.contacts_per_day(
        requests_per_day=budget.scan_requests_per_day(ghl, limit=DAILY_LIMIT, scanners=2), contacts=model
    )
    cycle = math.ceil(model / plan)
    old_day = (
        RUNS_PER_DAY * (idle + per_contact_check * model)
        + changes * (per_change_feed + per_st_change + statistics.mean(hook_costs) + statistics.mean(note_costs))
        + 2 * model * per_contact_scan
        + RUNS_PER_DAY * math.ceil(m_tasks / m_contacts * model / 100)
    )
    for name, value in day.items():
        log(f"  {name}: {value:,.0f} requests")
    seeded_note = f"{seeded.get('ghl_total', 0):,} seeded, the rest created by the first two-way sync"
    return [
        info(NAME, f"GHL contacts measured on ({seeded_note})", m_contacts),
        info(NAME, "GHL requests per scheduled contacts run, nothing changed", idle),
        info(NAME, "GHL requests per contact changed in GHL, read by the change feed", per_change_feed),
        info(NAME, "GHL requests per contact changed in StreetText, written to GHL", per_st_change),
        info(NAME, "GHL requests per webhook-driven contact run", statistics.mean(hook_costs)),
        info(NAME, "GHL requests per webhook-driven note run", statistics.mean(note_costs)),
        info(
            NAME,
            "GHL requests per contact scanned (notes slice)",
            per_contact_scan,
            "",
            f"{slice_run.scan_done} contacts",
        ),
        info(NAME, "GHL requests per full notes pass", notes_pass, "", f"{m_contacts:,} contacts"),
        info(NAME, "GHL requests per full task listing", tasks_pass, "", f"{m_tasks:,} tasks"),
        info(NAME, "GHL requests per contact, deletion check", per_contact_check),
        info(NAME, f"contacts deletion checks a day at {model:,}", checks),
        info(
            NAME,
            f"notes and appointments scan: full cycle at {model:,} (days)",
            cycle,
            "",
            f"{plan:,.0f} contacts a day each",
        ),
        *[info(NAME, f"day at {model:,}: {name}", value) for name, value in day.items()],
        at_most(
            NAME,
            f"steady day at {model:,} contacts, % of GHL's daily limit",
            100 * total / DAILY_LIMIT,
            GOALS["day_percent"],
            "%",
            f"{total:,.0f} requests",
        ),
        info(
            NAME,
            "the same day before the budget (full daily scans, tasks every run), % of the limit",
            100 * old_day / DAILY_LIMIT,
            "%",
            f"{old_day:,.0f} requests",
        ),
        at_most(
            NAME,
            "webhook change synced (change → run finished, in-process)",
            max(hook_seconds),
            GOALS["webhook_seconds"],
            "s",
            f"max of {len(hook_seconds)}; median {statistics.median(hook_seconds):.2f} s",
        ),
    ]
