"""What other apps may listen to without this package importing them (one-way app edges): a verified webhook.

`webhook_received` is sent once per recorded delivery (never for a replay, a refused or rate-limited one), inside the
request, after the delivery row is stored, with the connection it was routed to (a GoHighLevel location's), the
source system, the event type and the payload. Each receiver answers how many things it started (automations fired);
a receiver that raises is logged and does not fail the delivery.
"""

from __future__ import annotations

from django.dispatch import Signal

webhook_received = Signal()
