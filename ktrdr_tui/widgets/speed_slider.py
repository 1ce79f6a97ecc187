"""The playback speed: a slider over discrete stops, from a quarter of real time to as fast as
the machine goes. Our own widget (DESIGN.md: no textual-slider).

`+`/`-` or right/left step through the stops; a click on the track picks the nearest stop and a
drag follows the mouse. Every change the user makes posts `SpeedSlider.Changed`; `set_speed`
(the app following the session) posts nothing, so the two never echo each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

# Market seconds per wall second; 0 is "max": as fast as possible. Slowest to fastest.
SPEED_STOPS: tuple[float, ...] = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 360, 3600, 0)
DEFAULT_SPEED = 360.0  # one 1-minute bar every 0.17 s: a session in about a minute

_PREFIX = 7  # "Speed  " before the track
_MARGIN = 3  # room for half of the widest label at either end of the track


def speed_label(speed: float) -> str:
    """`max` for 0, else `0.25x`, `360x`, `3600x`."""
    return "max" if speed == 0 else f"{speed:g}x"


def stop_index(speed: float) -> int:
    """The stop closest to `speed` (on a log scale); 0 is the last stop, max."""
    import math

    if speed == 0:
        return len(SPEED_STOPS) - 1
    timed = SPEED_STOPS[:-1]
    return min(range(len(timed)), key=lambda i: abs(math.log(timed[i]) - math.log(speed)))


@dataclass(frozen=True)
class TrackLayout:
    """Where the stops sit on a slider `width` cells wide: column of each stop's tick."""

    width: int
    ticks: tuple[int, ...]

    @classmethod
    def for_width(cls, width: int) -> TrackLayout:
        stops = len(SPEED_STOPS)
        left = _PREFIX + _MARGIN
        right = max(left + stops - 1, width - _MARGIN - 1)
        span = right - left
        return cls(width, tuple(left + round(i * span / (stops - 1)) for i in range(stops)))

    def nearest(self, x: int) -> int:
        """The stop whose tick is closest to column `x`."""
        return min(range(len(self.ticks)), key=lambda i: (abs(self.ticks[i] - x), i))


class SpeedSlider(Widget, can_focus=True):
    """Two rows: the track with a tick per stop and the knob at the current one; under it the
    stops' labels, the current one highlighted (labels that would collide are left out)."""

    DEFAULT_CSS = """
    SpeedSlider {
        height: 2;
        width: 1fr;
    }
    SpeedSlider > .speed-slider--prefix {
        color: $text-muted;
    }
    SpeedSlider:focus > .speed-slider--prefix {
        color: $accent;
        text-style: bold;
    }
    SpeedSlider > .speed-slider--filled {
        color: $primary;
    }
    SpeedSlider > .speed-slider--track {
        color: $text-muted;
    }
    SpeedSlider > .speed-slider--knob {
        color: $accent;
        text-style: bold;
    }
    SpeedSlider > .speed-slider--label {
        color: $text-muted;
    }
    SpeedSlider > .speed-slider--current {
        color: $accent;
        text-style: bold;
    }
    SpeedSlider:focus > .speed-slider--current {
        color: $background;
        background: $accent;
    }
    """

    COMPONENT_CLASSES = {
        "speed-slider--prefix",
        "speed-slider--filled",
        "speed-slider--track",
        "speed-slider--knob",
        "speed-slider--label",
        "speed-slider--current",
    }

    BINDINGS = [
        Binding("plus", "faster", "Speed", key_display="+/-", id="speed.faster"),
        Binding("equals_sign,right", "faster", "Faster", show=False, id="speed.faster-too"),
        Binding("minus,left", "slower", "Slower", show=False, id="speed.slower"),
    ]

    index: reactive[int] = reactive(SPEED_STOPS.index(DEFAULT_SPEED))

    class Changed(Message):
        """The user picked another stop."""

        def __init__(self, slider: SpeedSlider, speed: float):
            super().__init__()
            self.slider = slider
            self.speed = speed

        @property
        def control(self) -> SpeedSlider:
            return self.slider

    def __init__(
        self,
        speed: float = DEFAULT_SPEED,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ):
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(SpeedSlider.index, stop_index(speed))
        self._dragging = False

    @property
    def speed(self) -> float:
        return float(SPEED_STOPS[self.index])

    def set_speed(self, speed: float) -> None:
        """Show `speed` (its nearest stop) without posting Changed."""
        self.index = stop_index(speed)

    def select(self, index: int) -> None:
        """Move to stop `index` (clamped) as the user would: posts Changed when it moves."""
        index = max(0, min(index, len(SPEED_STOPS) - 1))
        if index != self.index:
            self.index = index
            self.post_message(self.Changed(self, self.speed))

    def action_faster(self) -> None:
        self.select(self.index + 1)

    def action_slower(self) -> None:
        self.select(self.index - 1)

    # -- mouse ------------------------------------------------------------------------------

    def _pick(self, x: int) -> None:
        self.select(TrackLayout.for_width(self.content_size.width).nearest(x))

    async def _on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button != 1:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        self._dragging = True
        self.capture_mouse()
        self._pick(offset.x)

    async def _on_mouse_move(self, event: events.MouseMove) -> None:
        if self._dragging:
            self._pick(event.get_content_offset_capture(self).x)

    async def _on_mouse_up(self, event: events.MouseUp) -> None:
        if self._dragging:
            self._dragging = False
            self.release_mouse()

    def _on_mouse_release(self, event: events.MouseRelease) -> None:
        self._dragging = False

    # -- drawing ----------------------------------------------------------------------------

    def render(self) -> Text:
        width = self.content_size.width
        style = self.get_component_rich_style
        return Text("\n").join(
            render_slider(
                width,
                self.index,
                {
                    name: style(f"speed-slider--{name}")
                    for name in ("prefix", "filled", "track", "knob", "label", "current")
                },
            )
        )


def render_slider(width: int, index: int, styles: dict | None = None) -> list[Text]:
    """The slider's two rows for a width and a current stop; `styles` maps the parts (prefix,
    filled, track, knob, label, current) to Rich styles (plain text without)."""
    styles = styles or {}
    layout = TrackLayout.for_width(width)
    knob = layout.ticks[index]
    ticks = set(layout.ticks)
    track: list[tuple[str, str]] = [(c, "prefix") for c in "Speed".ljust(_PREFIX)]
    track += [(" ", "")] * (layout.ticks[0] - _PREFIX)
    for x in range(layout.ticks[0], layout.ticks[-1] + 1):
        if x == knob:
            track.append(("●", "knob"))
        elif x < knob:
            track.append(("┿" if x in ticks else "━", "filled"))
        else:
            track.append(("┼" if x in ticks else "─", "track"))
    size = max(width, len(track) + _MARGIN)
    labels: list[tuple[str, str]] = [(" ", "")] * size
    for stop, start in _place_labels(layout, index, size).items():
        part = "current" if stop == index else "label"
        for offset, char in enumerate(speed_label(SPEED_STOPS[stop])):
            labels[start + offset] = (char, part)
    return [_text(track[:width], styles), _text(labels[:width], styles)]


def _text(cells: list[tuple[str, str]], styles: dict) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    for char, part in cells:
        text.append(char, styles.get(part, "") if part else "")
    return text


def _place_labels(layout: TrackLayout, index: int, size: int) -> dict[int, int]:
    """Each shown stop's label start column: the current stop's first, then the others from
    the ends inwards wherever they fit with a space either side."""
    placed: dict[int, int] = {}
    taken: list[tuple[int, int]] = []
    count = len(SPEED_STOPS)
    order = [index, 0, count - 1, *range(1, count - 1)]
    for stop in dict.fromkeys(order):
        text = speed_label(SPEED_STOPS[stop])
        start = layout.ticks[stop] - (len(text) - 1) // 2
        start = max(0, min(start, size - len(text)))
        end = start + len(text)
        if all(end + 1 <= lo or start >= hi + 1 for lo, hi in taken):
            placed[stop] = start
            taken.append((start, end))
    return placed
