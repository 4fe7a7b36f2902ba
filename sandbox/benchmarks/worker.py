"""One sync of one mapping, in a process of its own: `python -m sandbox.benchmarks.worker <mapping id>`.

Started by the benchmark sections (benchmarks/servers.py) with the benchmark's environment; prints the
run's figures as one JSON line when the run ends.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    from integrations.clients.exceptions import ApiError
    from integrations.models import SyncRun
    from integrations.services.sync import sync_run_execute

    run = SyncRun.objects.create(mapping_id=int(argv[1]), trigger=SyncRun.Trigger.MANUAL)
    started = time.time()
    try:
        sync_run_execute(run_id=run.pk)
    except ApiError as e:  # a transient error the task would retry: report it
        run.error = str(e)
    finished = time.time()
    run.refresh_from_db()
    figures = {
        "status": run.status,
        "error": run.error,
        "created": run.created,
        "updated": run.updated,
        "failed": run.failed,
        "skipped": run.skipped,
        "processed": run.processed,
        "started": started,
        "finished": finished,
    }
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main(sys.argv)
