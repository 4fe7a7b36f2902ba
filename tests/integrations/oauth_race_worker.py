"""One racer of test_oauth.py's race test, run as its own OS process (like a Celery worker).

    python -m tests.integrations.oauth_race_worker <connection_id> <start_file> <result_file>

Loads the connection, says it is ready (<result_file>.ready), waits until <start_file> exists, then asks for a
forced refresh (what a 401 does) and uses the token. Writes a JSON result; never the token, only a hash of it.
With OAUTH_RACE_WITHOUT_LOCK=1 the per-connection lock is patched out (the control experiment).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def main() -> None:
    connection_id, start_file, result_file = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    import django

    django.setup()
    from integrations.adapters.clients import ghl_client_for
    from integrations.models import Connection
    from integrations.services.oauth import oauth_access_token

    if os.environ.get("OAUTH_RACE_WITHOUT_LOCK"):
        # The control experiment: the same code with the per-connection lock taken away.
        from integrations.services import oauth

        @contextmanager
        def no_lock(pk: int) -> Iterator[Connection]:
            yield Connection.objects.get(pk=pk)

        oauth._connection_lock = no_lock  # type: ignore[assignment]

    connection = Connection.objects.get(pk=connection_id)
    seen = token_hash(connection.oauth_access_token)
    Path(f"{result_file}.ready").touch()
    deadline = time.monotonic() + 60
    while not start_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("start file never appeared")
        time.sleep(0.001)
    result: dict[str, Any] = {"seen": seen, "started": time.time()}
    try:
        token = oauth_access_token(connection=connection, force=True)
        result["finished"] = time.time()
        result["token"] = token_hash(token)
        result["location"] = ghl_client_for(connection).get_location()["id"]
        result["ok"] = True
    except Exception as e:  # reported to the test, which fails on it
        result.update(ok=False, error=f"{type(e).__name__}: {e}", finished=time.time())
    result_file.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
