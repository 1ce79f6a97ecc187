"""The speed slider: its stops, how it draws, and keys and the mouse moving it."""

from __future__ import annotations

from textual.app import App, ComposeResult

from ktrdr_tui.widgets.speed_slider import (
    SPEED_STOPS,
    SpeedSlider,
    TrackLayout,
    render_slider,
    speed_label,
    stop_index,
)

WIDTH = 98


def test_stops_run_from_a_quarter_to_max() -> None:
    assert SPEED_STOPS == (0.25, 0.5, 1, 2, 5, 10, 30, 60, 360, 3600, 0)
    assert [speed_label(s) for s in SPEED_STOPS] == [
        "0.25x",
        "0.5x",
        "1x",
        "2x",
        "5x",
        "10x",
        "30x",
        "60x",
        "360x",
        "3600x",
        "max",
    ]


def test_a_speed_maps_to_its_nearest_stop() -> None:
    assert [stop_index(s) for s in SPEED_STOPS] == list(range(len(SPEED_STOPS)))
    assert SPEED_STOPS[stop_index(100)] == 60  # log scale: 100 is nearer 60 than 360
    assert SPEED_STOPS[stop_index(200)] == 360
    assert SPEED_STOPS[stop_index(0.1)] == 0.25
    assert SPEED_STOPS[stop_index(1e6)] == 3600


def test_the_track_has_a_tick_per_stop_and_the_knob_on_the_current_one() -> None:
    track, labels = (t.plain for t in render_slider(WIDTH, SPEED_STOPS.index(360)))
    layout = TrackLayout.for_width(WIDTH)
    assert track.startswith("Speed")
    assert [track[x] for x in layout.ticks] == ["┿"] * 8 + ["●", "┼", "┼"]
    assert track.count("●") == 1
    assert len(track) <= WIDTH and len(labels) <= WIDTH
    # Every label sits under its tick.
    for stop, x in enumerate(layout.ticks):
        label = speed_label(SPEED_STOPS[stop])
        start = labels.index(label, max(0, x - len(label)))
        assert start <= x < start + len(label), label


def test_the_current_label_is_highlighted() -> None:
    styles = {"current": "reverse", "label": "dim"}
    _, labels = render_slider(WIDTH, 0, styles)
    reversed_text = "".join(
        labels.plain[span.start : span.end] for span in labels.spans if span.style == "reverse"
    )
    assert reversed_text == "0.25x"


def test_a_narrow_slider_keeps_the_current_label_and_drops_colliding_ones() -> None:
    for index in range(len(SPEED_STOPS)):
        track, labels = (t.plain for t in render_slider(30, index))
        assert len(track) <= 30
        assert speed_label(SPEED_STOPS[index]) in labels
        assert "●" in track


def test_nearest_tick_wins() -> None:
    layout = TrackLayout.for_width(WIDTH)
    assert layout.nearest(0) == 0
    assert layout.nearest(WIDTH) == len(SPEED_STOPS) - 1
    assert layout.nearest(layout.ticks[5] + 1) == 5


class SliderApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.changes: list[float] = []

    def compose(self) -> ComposeResult:
        yield SpeedSlider(speed=1)

    def on_speed_slider_changed(self, event: SpeedSlider.Changed) -> None:
        self.changes.append(event.speed)


async def test_keys_step_through_the_stops() -> None:
    app = SliderApp()
    async with app.run_test(size=(WIDTH, 5)) as pilot:
        slider = app.query_one(SpeedSlider)
        slider.focus()
        assert slider.speed == 1
        await pilot.press("plus", "right", "equals_sign")
        assert slider.speed == 10
        await pilot.press("minus", "left")
        assert slider.speed == 2
        await pilot.pause()
        assert app.changes == [2, 5, 10, 5, 2]


async def test_keys_stop_at_the_ends_without_posting() -> None:
    app = SliderApp()
    async with app.run_test(size=(WIDTH, 5)) as pilot:
        slider = app.query_one(SpeedSlider)
        slider.focus()
        await pilot.press(*["plus"] * 20)
        assert slider.speed == 0  # max
        await pilot.pause()
        assert app.changes[-1] == 0
        assert len(app.changes) == len(SPEED_STOPS) - 3  # from 1x to max, then nothing
        slider.set_speed(0.25)
        await pilot.press("minus")
        await pilot.pause()
        assert slider.speed == 0.25
        assert app.changes[-1] == 0  # set_speed posts nothing, and a blocked step neither


async def test_a_click_on_the_track_picks_the_nearest_stop() -> None:
    app = SliderApp()
    async with app.run_test(size=(WIDTH, 5)) as pilot:
        slider = app.query_one(SpeedSlider)
        ticks = TrackLayout.for_width(slider.content_size.width).ticks
        await pilot.click(SpeedSlider, offset=(ticks[9], 0))
        assert slider.speed == 3600
        await pilot.click(SpeedSlider, offset=(ticks[1] + 1, 1))  # on the labels row too
        assert slider.speed == 0.5
        await pilot.click(SpeedSlider, offset=(WIDTH - 1, 0))
        assert slider.speed == 0
        await pilot.pause()
        assert app.changes == [3600, 0.5, 0]


async def test_dragging_follows_the_mouse() -> None:
    app = SliderApp()
    async with app.run_test(size=(WIDTH, 5)) as pilot:
        slider = app.query_one(SpeedSlider)
        ticks = TrackLayout.for_width(slider.content_size.width).ticks
        await pilot.mouse_down(SpeedSlider, offset=(ticks[3], 0))
        assert slider.speed == 2
        await pilot.hover(SpeedSlider, offset=(ticks[7], 0))
        assert slider.speed == 60
        await pilot.mouse_up(SpeedSlider, offset=(ticks[7], 0))
        await pilot.hover(SpeedSlider, offset=(ticks[9], 0))  # released: no longer follows
        assert slider.speed == 60
