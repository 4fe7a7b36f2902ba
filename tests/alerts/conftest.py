from __future__ import annotations

from tests.alerts.support import alert_tasks  # noqa: F401 (a fixture for this folder's tests)
