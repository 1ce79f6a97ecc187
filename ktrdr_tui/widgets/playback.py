"""The Playback pane: a status line, the candle chart and the speed slider over the open session.

The pane polls `app.session.snapshot()` POLL_HZ times a second and redraws only when the
snapshot changed (the chart caps itself at 10 Hz): never one update per bar. Every key acts
through the session's thread-safe controls and returns at once.

The status line says what plays and where the clock is, then the account: position, cash,
equity, return and open P&L. Each of its two lines keeps to the pane's width, leaving out what
tells least first (`fit`). The chart marks signals at their bars and fills at their prices.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.events import Resize
from textual.widgets import Static

from engine.market.exchange import EXCHANGE_TZ
from engine.market.timeframes import TIMEFRAMES
from ktrdr_tui.unavailable import ExplainsUnavailableKeys
from ktrdr_tui.widgets.candle_chart import CandleChart, ChartData, FillMark, Marker
from ktrdr_tui.widgets.speed_slider import SpeedSlider, speed_label

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from engine.session.metrics import MetricsReport
    from engine.session.playback import PlaybackSession, SessionSnapshot
    from ktrdr_tui.engine_handle import EngineHandle
    from ktrdr_tui.screens.open_session import OpenedSession

POLL_HZ = 15
EMPTY = "No session open — press o to pick stored bars and strategies"
KEYS_HINT = (
    "Stored bars play back here through strategies, at the speed below: candles with BUY ▲ "
    "and SELL ▼ signals and B / S fills, the market clock, quality and the account.\n\n"
    "o open · space play/pause · +/- speed · . step · g go to date · home restart · "
    "t timeframe\n\n"
    "Nothing stored yet? Load bars in Jobs (1, then n)."
)
NO_BARS = "No bars yet — space plays, . steps one bar"
CHART_TIMEFRAMES = TIMEFRAMES  # the order `t` cycles in
WARN_FOR_S = 3.0  # an overrun warning stays this long after the last overrun

_STATE_MARKS = {
    "paused": "⏸ paused",
    "playing": "▶ playing",
    "done": "■ done",
    "failed": "✖ failed",
    "stopped": "■ stopped",
}
# Keys that need a session: dimmed in the footer until one is open, and they say so.
SESSION_ACTIONS = frozenset(
    {"toggle_play", "step", "go_to_date", "restart", "cycle_timeframe", "next_symbol", "metrics"}
)
NO_SESSION = "No session open: o opens one (stored bars and strategies)."
ONE_SYMBOL = "The session has one symbol to chart: o opens a session of several."

# A part of a status line: its rank (0 always stays; the highest goes first when the line is
# too long) and its (text, style) pieces.
Part = tuple[int, list[tuple[str, str]]]


def fit(parts: list[Part], width: int) -> list[tuple[str, str]]:
    """The pieces of `parts` in order, without the parts of the highest ranks (the last of a
    rank first) that a line of `width` cells has no room for; 0: any width."""
    kept = list(parts)

    def length() -> int:
        return sum(cell_len(text) for _, pieces in kept for text, _ in pieces)

    while width and length() > width and any(rank for rank, _ in kept):
        worst = max(rank for rank, _ in kept)
        del kept[max(i for i, (rank, _) in enumerate(kept) if rank == worst)]
    return [piece for _, pieces in kept for piece in pieces]


class PlaybackPane(ExplainsUnavailableKeys, Vertical, can_focus=True):
    DEFAULT_CSS = """
    PlaybackPane {
        height: 1fr;
    }
    PlaybackPane #playback-status {
        height: 2;
        margin-top: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    PlaybackPane #playback-chart {
        margin: 1 0 0 0;
    }
    PlaybackPane #playback-speed {
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding(
            "o",
            "open_session",
            "Open",
            tooltip="open a session (dataset and strategies)",
            id="playback.open",
        ),
        Binding("space", "toggle_play", "Play/Pause", tooltip="play / pause", id="playback.play"),
        Binding(
            "plus,equals_sign",
            "faster",
            "Speed",
            key_display="+ -",
            tooltip="faster / slower",
            id="playback.faster",
        ),
        Binding("minus", "slower", "Slower", show=False, id="playback.slower"),
        Binding(
            "full_stop", "step", "Step", key_display=".", tooltip="step one bar", id="playback.step"
        ),
        Binding("g", "go_to_date", "Go to", tooltip="go to a date", id="playback.go-to"),
        Binding("home", "restart", "Restart", tooltip="restart", id="playback.restart"),
        Binding(
            "t",
            "cycle_timeframe",
            "Timeframe",
            tooltip="chart timeframe (1m … 1h)",
            id="playback.timeframe",
        ),
        # Off the footer (full at 80 columns already); `?` lists them.
        Binding(
            "s",
            "next_symbol",
            "Symbol",
            show=False,
            tooltip="chart the next symbol of the session",
            id="playback.symbol",
        ),
        Binding(
            "m",
            "metrics",
            "Metrics",
            show=False,
            tooltip="metrics: time per stage, bars, batches",
            id="playback.metrics",
        ),
    ]

    def __init__(self, engine: EngineHandle, *, name: str | None = None, id: str | None = None):
        super().__init__(name=name, id=id)
        self.engine = engine
        self.opened: OpenedSession | None = None
        self.timeframe: str | None = None  # the chart's; None: the session's own
        self._session: PlaybackSession | None = None  # the session the pane last drew
        self._snapshot: SessionSnapshot | None = None
        self._overruns = 0
        self._warned_at = -1e9
        self._failure_told = False

    def compose(self) -> ComposeResult:
        yield Static(EMPTY, id="playback-status")
        yield CandleChart(KEYS_HINT, id="playback-chart")
        yield SpeedSlider(id="playback-speed")

    def on_mount(self) -> None:
        self.set_interval(1 / POLL_HZ, self.poll)

    def on_resize(self, _event: Resize) -> None:
        # The status line keeps to the width, once the pane's children are laid out in it.
        self.call_after_refresh(self._show_status)

    def on_show(self) -> None:
        # Shown by `2`: the keys of the pane act once the focus is in it (the pane itself, so
        # tab reaches the slider next).
        if self.screen.focused is None or self not in self.screen.focused.ancestors_with_self:
            self.focus()

    @property
    def session(self) -> PlaybackSession | None:
        return self.engine.session

    # -- keys -------------------------------------------------------------------------------

    def unavailable(self, action: str) -> str:
        session = self.session
        if action in SESSION_ACTIONS and session is None:
            return NO_SESSION
        if action == "next_symbol" and session is not None and len(session.symbols) < 2:
            return ONE_SYMBOL
        return ""

    def action_open_session(self) -> None:
        from ktrdr_tui.screens.open_session import OpenSessionScreen

        speed = self.query_one(SpeedSlider).speed
        engine = self.engine
        config = engine.config
        screen = OpenSessionScreen(
            engine.store, engine.start_sweep, speed, config.strategy_files, config.trading
        )
        self.app.push_screen(screen, self.adopt)

    def action_toggle_play(self) -> None:
        session = self.session
        if session is None:
            return
        state = str(session.snapshot().state)
        if state == "playing":
            session.pause()
        elif state == "done":
            self.notify("At the end of the range: home restarts, g goes to a date.")
        elif state in ("failed", "stopped"):
            self.notify("This session has ended: o opens another.", severity="warning")
        else:
            session.play()

    def action_faster(self) -> None:
        self.query_one(SpeedSlider).action_faster()

    def action_slower(self) -> None:
        self.query_one(SpeedSlider).action_slower()

    @on(SpeedSlider.Changed)
    def _speed_changed(self, event: SpeedSlider.Changed) -> None:
        if self.session is not None:
            self.session.set_speed(event.speed)
            self._overruns = self.session.snapshot().overruns
            self._warned_at = -1e9

    def action_step(self) -> None:
        if self.session is not None:
            self.session.step()

    def action_restart(self) -> None:
        if self.session is not None:
            self.session.restart()

    def action_go_to_date(self) -> None:
        from ktrdr_tui.screens.go_to_date import GoToDateScreen

        session, opened = self.session, self.opened
        if session is None or opened is None:
            return
        current = session.snapshot().session_date
        self.app.push_screen(GoToDateScreen(session.sessions, opened.timezone, current), self._seek)

    def action_metrics(self) -> None:
        from ktrdr_tui.screens.metrics import MetricsScreen

        if self.session is not None:
            self.app.push_screen(MetricsScreen(self.metrics))

    def metrics(self) -> MetricsReport | None:
        """The engine's session's metrics as of its latest snapshot; None with no session."""
        session = self.session
        return session.snapshot().metrics if session is not None else None

    def _seek(self, when: pd.Timestamp | None) -> None:
        if when is not None and self.session is not None:
            self.session.seek(when)

    def show_trade(self, entry_ns: int, symbol: str) -> None:
        """Chart `symbol`, pause, and move the clock as `g` does to a third of the chart's
        width past the bar a trade was entered at (`entry_ns`, the start of that bar), or to
        where it is if that is sooner: the chart shows the entry with what led to it and what
        came after."""
        import numpy as np
        import pandas as pd

        from engine.market.timeframes import TIMEFRAME_SECONDS

        session = self.session
        if session is None:
            return
        if symbol not in session.symbols:
            return
        session.chart(symbol)
        bars, snapshot = session.market[session.symbols.index(symbol)], session.snapshot()
        entry = int(np.searchsorted(bars.timestamps, entry_ns))
        if entry == len(bars):
            return
        # The chart's bars may be derived ones: as many stored bars as one of them holds.
        per_column = TIMEFRAME_SECONDS[self.chart_timeframe(snapshot)] // (bars.bar_seconds or 1)
        after = self.query_one(CandleChart).content_size.width // 3 * max(per_column, 1)
        target = min(int(bars.end[min(entry + after, len(bars) - 1)]), snapshot.clock_ns)
        session.pause()
        self._seek(pd.Timestamp(target, tz="UTC"))

    def action_next_symbol(self) -> None:
        session = self.session
        if session is None or len(session.symbols) < 2:
            return  # the key is disabled then, and says why
        charted = session.symbols.index(session.snapshot().chart_symbol)
        session.chart(session.symbols[(charted + 1) % len(session.symbols)])

    def action_cycle_timeframe(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            return
        available = [tf for tf in CHART_TIMEFRAMES if tf in snapshot.bars]
        if not available:
            self.notify("No bars to chart yet: space plays, . steps one bar.")
            return
        current = self.chart_timeframe(snapshot)
        index = available.index(current) if current in available else -1
        self.timeframe = available[(index + 1) % len(available)]
        self._draw(snapshot)

    # -- the session ------------------------------------------------------------------------

    def adopt(self, opened: OpenedSession | None) -> None:
        """Make `opened` the engine's session: the previous one stops; the new one starts
        paused."""
        if opened is None:
            return
        self.opened = opened
        self.timeframe = None
        self._failure_told = False
        self._overruns, self._warned_at = 0, -1e9
        self.engine.open_session(opened.session)
        opened.session.start(playing=False)
        self.query_one(SpeedSlider).set_speed(opened.session.snapshot().speed)
        self.refresh_bindings()
        self.poll()

    def chart_timeframe(self, snapshot: SessionSnapshot) -> str:
        if self.timeframe in snapshot.bars:
            return self.timeframe
        base = self.session.timeframe if self.session is not None else ""
        return base if base in snapshot.bars else next(iter(snapshot.bars), base)

    def poll(self) -> None:
        session = self.session
        if session is not self._session:
            self._session = session
            self._snapshot = None
            self.refresh_bindings()
            if session is None:
                self.opened = None
                self.query_one("#playback-status", Static).update(EMPTY)
                self.query_one(CandleChart).set_message(KEYS_HINT)
                self.query_one(CandleChart).show(None)
                return
        if session is None:
            return
        snapshot = session.snapshot()
        if snapshot is self._snapshot:
            return
        self._snapshot = snapshot
        self._draw(snapshot)

    def _show_status(self) -> None:
        session, snapshot = self.session, self._snapshot
        if session is not None and snapshot is not None:
            self.query_one("#playback-status", Static).update(self.status_text(session, snapshot))

    def _draw(self, snapshot: SessionSnapshot) -> None:
        """Show `snapshot`, the pane's latest."""
        session = self.session
        if session is None:
            return
        self._show_status()
        if str(snapshot.state) == "failed" and not self._failure_told:
            self._failure_told = True
            self.notify(
                snapshot.error or "the session failed", title="Playback failed", severity="error"
            )
        self.query_one(CandleChart).show(self.chart_data(session, snapshot))

    def chart_data(self, session: PlaybackSession, snapshot: SessionSnapshot) -> ChartData | None:
        import numpy as np

        from engine.market.timeframes import TIMEFRAME_SECONDS

        timeframe = self.chart_timeframe(snapshot)
        view = snapshot.bars.get(timeframe)
        chart = self.query_one(CandleChart)
        if view is None or len(view) == 0:
            chart.set_message(NO_BARS)
            return None
        symbol = snapshot.chart_symbol
        markers = tuple(
            Marker(signal.time_ns, signal.action, signal.approved)
            for signal in snapshot.recent_signals
            if signal.symbol == symbol
        )
        # The fills from the first bar shown on (the chart leaves out any between its bars).
        fills = snapshot.fills.of_symbol(session.symbols.index(symbol))
        since = int(np.searchsorted(fills.time_ns, view.timestamps[0]))
        fill_marks = tuple(
            FillMark(*fill)
            for fill in zip(
                fills.time_ns[since:].tolist(),
                fills.action[since:].tolist(),
                fills.price[since:].tolist(),
                strict=True,
            )
        )
        # The missing sessions the clock has reached, after the first bar shown.
        opens = session.missing_opens
        lo, hi = np.searchsorted(opens, [view.timestamps[0], snapshot.clock_ns], side="right")
        gaps = tuple(opens[lo:hi].tolist())
        return ChartData(
            view.timestamps,
            view.open,
            view.high,
            view.low,
            view.close,
            bar_seconds=TIMEFRAME_SECONDS[timeframe],
            markers=markers,
            fills=fill_marks,
            timezone=self.opened.timezone if self.opened else EXCHANGE_TZ,
            gaps=gaps,
            key=(
                id(session),
                snapshot.generation,
                snapshot.bars_processed,
                symbol,
                timeframe,
                len(gaps),
            ),
        )

    def status_text(self, session: PlaybackSession, snapshot: SessionSnapshot) -> Content:
        """Two lines: what plays and where the clock is, with the bars and their quality; then
        the account and the signals. Each keeps to the status line's width."""
        import pandas as pd

        state = str(snapshot.state)
        timezone = self.opened.timezone if self.opened else "UTC"
        clock = pd.Timestamp(snapshot.clock_ns, tz="UTC").tz_convert(timezone)
        chart = self.chart_timeframe(snapshot)
        muted = "$text-muted"
        symbols = session.symbols
        charted = symbols.index(snapshot.chart_symbol)
        first: list[Part] = [(0, [(f"{snapshot.chart_symbol} {session.timeframe}", "bold")])]
        if len(symbols) > 1:  # which of them the chart shows; `s` shows the next
            first.append((1, [(f" {charted + 1}/{len(symbols)}", muted)]))
        if chart != session.timeframe:
            first.append((2, [(f" · chart {chart}", muted)]))
        first.append((0, [(f"   {clock:%a %Y-%m-%d %H:%M:%S %Z}", "")]))
        mark = _STATE_MARKS.get(state, state)
        first.append((0, [(f"   {mark} {speed_label(snapshot.speed)}", "bold $accent")]))
        if state == "paused" and snapshot.bars_processed == 0:
            first.append((1, [(" — space to play", muted)]))
        elif state == "done":
            first.append((1, [(" — home restarts", muted)]))
        if snapshot.missing_dates:
            first.append((0, [(f"   {gap_text(snapshot.missing_dates)}", "bold $warning")]))
        warning = self.overrun_warning(session, snapshot)
        if warning:
            first.append((0, [(f"   {warning}", "bold $warning")]))
        if state == "failed":
            first.append((0, [(f"   {snapshot.error}", "bold $error")]))
        for failure in snapshot.strategy_failures:  # stopped; the other strategies go on
            first.append((0, [(f"   {failure.describe()}", "bold $error")]))
        first.append((3, [(f"   bars {snapshot.bars_processed:,}/{snapshot.bars_total:,}", muted)]))
        # The day's quality turns to a warning once it is low enough to reject signals.
        low = snapshot.day_quality_pct < session.rules.min_quality
        quality = f"  day quality {snapshot.day_quality_pct:.1f}%"
        first.append((0, [(quality, "$warning")]) if low else (2, [(quality, muted)]))

        def shown(label: str, value: str, signed: float = 0.0) -> list[tuple[str, str]]:
            """A muted label and its value, a gain or a loss (`signed`) in its colour."""
            return [(label, muted), (value, gain_or_loss(signed))]

        returned, open_pnl = snapshot.return_pct, snapshot.open_pnl
        held = snapshot.positions[charted]
        account: list[Part] = [
            (0, shown("position " if len(symbols) == 1 else f"{symbols[charted]} ", f"{held:,}")),
            (2, shown("  cash ", f"{snapshot.cash:,.2f}")),
            (0, shown("  equity ", f"{snapshot.equity:,.2f}")),
            (0, shown("  return ", f"{returned:+.2f}%", returned)),
            (1, shown("  open P&L ", f"{open_pnl:+,.2f}", open_pnl)),
            (3, [(f"  signals {snapshot.signals:,} ({snapshot.approved:,} approved)", muted)]),
        ]
        width = self.query_one("#playback-status", Static).content_size.width
        return Content.assemble(*fit(first, width), "\n", *fit(account, width))

    def overrun_warning(self, session: PlaybackSession, snapshot: SessionSnapshot) -> str:
        """A warning such as `⚠ can't keep up at 3600x` while playing behind the requested speed
        (far behind now, or an overrun in the last WARN_FOR_S seconds); else ""."""
        now = time.monotonic()
        if snapshot.overruns > self._overruns:
            self._warned_at = now
        self._overruns = snapshot.overruns
        if str(snapshot.state) != "playing" or snapshot.speed == 0:
            return ""
        behind_limit = 2 * max(session.market[0].bar_seconds, 60)
        if snapshot.behind_s > behind_limit or now - self._warned_at < WARN_FOR_S:
            return f"⚠ can't keep up at {speed_label(snapshot.speed)}"
        return ""


def gain_or_loss(value: float) -> str:
    return "$success" if value > 0 else "$error" if value < 0 else ""


def gap_text(dates: Sequence[pd.Timestamp]) -> str:
    """The sessions without stored bars the clock is passing: `gap: 2024-03-12 missing`, or
    `gap: 2024-03-12 … 2024-03-14 missing (3 sessions)`."""
    if len(dates) == 1:
        return f"gap: {dates[0]:%Y-%m-%d} missing"
    return f"gap: {dates[0]:%Y-%m-%d} … {dates[-1]:%Y-%m-%d} missing ({len(dates)} sessions)"
