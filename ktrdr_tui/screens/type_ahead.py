"""Typing ahead into a dialog that is still opening.

Textual sends a key to the widget focused when the key arrives. Keys typed in one burst with
the key that opens a dialog (`n AAPL enter`) are sent before the dialog exists, to the widget
below it, which has no use for letters: unhandled, they reach the app. The app hands them to
the field the dialog has focused by then (enter and the other bound keys already reach the
field's bindings: bindings are looked up from the focus when a key is handled).
"""

from __future__ import annotations

from textual import events
from textual.widget import Widget
from textual.widgets import Input


def type_ahead(focused: Widget | None, event: events.Key) -> None:
    """Type `event` into `focused` if it is a field and the key is printable: such a key
    reaching the app was never sent to the field, which takes every printable key it is sent."""
    if not isinstance(focused, Input) or not event.is_printable or not event.character:
        return
    event.stop()
    event.prevent_default()
    selection = focused.selection  # as the Input does with a key: replace a selection
    if selection.is_empty:
        focused.insert_text_at_cursor(event.character)
    else:
        focused.replace(event.character, *selection)
