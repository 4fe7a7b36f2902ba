"""The sandbox's catalog: every operation of GHL's official spec served statefully by one spec-driven engine.

rules.py decides each operation's kind and resource from its path template (with a few overrides), engine.py serves
the kinds on the generic record store, shapes.py answers in the spec's response shapes, the area modules
(contacts, opportunities, calendars, conversations, locations, objects; registered by actions.py) add what the kinds
cannot say, urls.py routes every path template through views.ghl_view, demo.py seeds every area. README.md in the
sandbox package describes the behaviour.
"""
