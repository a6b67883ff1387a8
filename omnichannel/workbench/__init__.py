"""The exception workbench: a governed workflow for exception cases, and a live operations view.

Exceptions on `integration.exceptions` become cases that finance operations staff work in a
browser: assign, replay after a reference-data fix, discard or mark fixed upstream, reopen.
Every action is an event on the append-only `integration.exceptions.audit` topic, and the
workbench's state is the fold of the two topics (`cases`), rebuilt at each start, so there is
no private database that could drift from what the topics say.
"""
