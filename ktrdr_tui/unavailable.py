"""Keys that cannot act right now (no session open, nothing to export) show dimmed in the
footer, and pressing one says why instead of doing nothing."""

from __future__ import annotations

from textual import events


class ExplainsUnavailableKeys:
    """Mixin for a widget with BINDINGS: `unavailable(action)` gives the reason an action
    cannot run now, or "" when it can."""

    def unavailable(self, action: str) -> str:
        return ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if self.unavailable(action) else True  # None: shown, dimmed

    def on_key(self, event: events.Key) -> None:
        # Keys reach the focused widget and its parents before the bindings are looked up; a
        # binding that is disabled then does nothing, so say why here.
        active = self.screen.active_bindings.get(event.key)  # type: ignore[attr-defined]
        if active is None or active.node is not self or active.enabled:
            return
        reason = self.unavailable(active.binding.action)
        if reason:
            self.notify(reason, severity="warning")  # type: ignore[attr-defined]
