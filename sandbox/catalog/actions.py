"""The catalog's areas, imported so that their actions, hooks and write/render extensions are registered in
engine.ACTIONS / HOOKS / WRITE_HOOKS / RENDER_HOOKS (rules.OVERRIDES names them per operation):

- contacts.py: followers, workflow and campaign memberships, bulk tags; users;
- opportunities.py: stages, status and stage timestamps, contacts in answers, search filters, upserts;
- calendars.py: slugs, blocked slots, free slots, appointment notes, schedule links;
- conversations.py: conversations, messages, replies, recordings, uploads, search and list filters;
- locations.py: locations (the sandbox accounts), timezones, custom fields and values, recurring tasks;
- objects.py: associations and relations, custom objects and fields, blogs, OAuth's installed locations.
"""

from __future__ import annotations

from sandbox.catalog import calendars, contacts, conversations, locations, objects, opportunities

__all__ = ["calendars", "contacts", "conversations", "locations", "objects", "opportunities"]
