"""Indicators for strategies: moving averages, Wilder's RSI and ATR, rolling extremes, crossings.

Two promises, which the session's results rest on:

- **Chunk-invariant.** A value depends only on the bars, never on how often or with how many new
  bars an indicator was called: window indicators compute each window on its own, and the
  recursive ones (`Ema`, `Rsi`, `Atr`) are objects that carry their state and compute each new
  value the same way whether it comes alone or with thousands of others (`_Smoothing`).
- **Exact on a tick grid.** Prices are usually on a grid (cents). There a moving average is
  summed in integer ticks, so two averages that are equal in exact arithmetic are equal here too:
  a flat stretch never makes a false crossing out of float rounding. `sma_order` compares two
  averages with integer arithmetic alone.

Why not a library: TA-Lib (a C library behind the `ta-lib` wheels) and pandas-ta compute over a
whole array per call (in `on_bar`, the whole history at every bar) and sum in floats, so neither
keeps the two promises above, and either would be one more dependency (a compiled one for
TA-Lib) for what is here a few dozen lines of numpy. The definitions are the standard ones
(TA-Lib's seeding for Wilder's averages); the tests compare them with pandas.
"""

from __future__ import annotations

import numpy as np

# Prices are checked against a grid of 10^-4 (any grid of 4 decimals or fewer: cents, tenths of
# cents). A comparison's result does not depend on the scale, and one fixed scale keeps every
# window's arithmetic independent of where an array starts.
TICKS_PER_UNIT = 10_000
# A price is on the grid when price * 10^4 is within this of an integer (relative to the
# value for large ones: the float product itself is that far off).
_GRID_TOLERANCE = 1e-6
_GRID_RELATIVE = 4.4e-16
_FLOAT_EXACT = 2**53  # integers below this are exact as floats
_INT_ROOM = 2**62  # products must stay below this in int64


# -- window indicators: each value from its own window ----------------------------------------


def sma(values: np.ndarray, window: int, *, last: int | None = None) -> np.ndarray:
    """The simple moving average at every position (NaN before the first full window), or at
    the last `last` positions only (cheap in `on_bar`). Exact in ticks on a grid: two averages
    equal in exact arithmetic are the same float."""
    values = _tail(values, window, last)
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        sums = _WindowSums(values, _FLOAT_EXACT // window)
        out[window - 1 :] = sums.means(window, window - 1)[0]
    return out if last is None else out[-last:]


def sma_order(
    values: np.ndarray, fast: int, slow: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sign of SMA(fast) - SMA(slow) at every position (int8; 0 before both windows are
    full, and on a tie), with both averages (as `sma` gives them). On a grid the sign is exact:
    integer tick sums compared as fast_sum * slow against slow_sum * fast."""
    _check_window(fast)
    _check_window(slow)
    values = np.asarray(values, dtype=np.float64)
    first = max(fast, slow) - 1  # the first position with both windows full
    side = np.zeros(len(values), np.int8)
    fast_mean, slow_mean = np.full(len(values), np.nan), np.full(len(values), np.nan)
    if len(values) <= first:
        return side, fast_mean, slow_mean
    sums = _WindowSums(values, min(_FLOAT_EXACT // (first + 1), _INT_ROOM // (fast * slow)))
    f_mean, f_sum, f_exact = sums.means(fast, first)
    s_mean, s_sum, s_exact = sums.means(slow, first)
    order = np.sign(f_sum * slow - s_sum * fast)  # exact where both windows are on the grid
    exact = f_exact & s_exact
    if not exact.all():
        order = np.where(exact, order, np.sign(f_mean - s_mean))
    side[first:], fast_mean[first:], slow_mean[first:] = order, f_mean, s_mean
    return side, fast_mean, slow_mean


def rolling_max(values: np.ndarray, window: int, *, last: int | None = None) -> np.ndarray:
    """The highest value of every window (NaN before the first full one); `last` as in sma."""
    return _rolling(np.max, values, window, last)


def rolling_min(values: np.ndarray, window: int, *, last: int | None = None) -> np.ndarray:
    """The lowest value of every window (NaN before the first full one); `last` as in sma."""
    return _rolling(np.min, values, window, last)


def _rolling(reduce, values: np.ndarray, window: int, last: int | None) -> np.ndarray:
    _check_window(window)
    values = _tail(values, window, last)
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1 :] = reduce(np.lib.stride_tricks.sliding_window_view(values, window), 1)
    return out if last is None else out[-last:]


def _tail(values: np.ndarray, window: int, last: int | None) -> np.ndarray:
    """The values the last `last` windows need (all of them without `last`)."""
    _check_window(window)
    values = np.asarray(values, dtype=np.float64)
    if last is None:
        return values
    if last < 1:
        raise ValueError(f"last must be at least 1, got {last}")
    return values[-(last + window - 1) :]


def _check_window(window: int) -> None:
    if window < 1:
        raise ValueError(f"a window is at least 1 bar, got {window}")


class _WindowSums:
    """Any window's sum in ticks, and whether all its prices are on the grid, from two prefix
    sums of integers (exact, whatever the window or where the array starts)."""

    def __init__(self, values: np.ndarray, limit: int):
        self.values = values
        ticks, on_grid = grid_ticks(values, limit)
        self.ticks = np.zeros(len(values) + 1, np.int64)
        np.cumsum(ticks, out=self.ticks[1:])
        self.off: np.ndarray | None = None  # prices off the grid so far (None: none at all)
        if not on_grid.all():
            self.off = np.zeros(len(values) + 1, np.int64)
            np.cumsum(~on_grid, out=self.off[1:])

    def means(self, window: int, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The mean, the tick sum and whether it is exact, of the windows ending at positions
        first… A window off the grid is summed as floats, left to right: the same bits
        wherever the array starts."""
        count = len(self.values) - first
        lo, hi = first + 1 - window, first + 1
        sums = self.ticks[hi:] - self.ticks[lo : lo + count]
        means = sums / window / TICKS_PER_UNIT
        if self.off is None:
            return means, sums, np.ones(count, bool)
        exact = self.off[hi:] == self.off[lo : lo + count]
        if not exact.all():
            starts = np.flatnonzero(~exact) + lo
            total = self.values[starts]  # a copy (fancy indexing)
            for offset in range(1, window):
                total += self.values[starts + offset]
            means[~exact] = total / window
        return means, sums, exact


def grid_ticks(values: np.ndarray, limit: int = _FLOAT_EXACT) -> tuple[np.ndarray, np.ndarray]:
    """Each value in ticks of 10^-4 (int64) and whether it is on that grid (within float noise,
    and under `limit` ticks in size); off-grid values get 0 ticks."""
    scaled = np.asarray(values, dtype=np.float64) * TICKS_PER_UNIT
    rounded = np.rint(scaled)
    size = np.abs(rounded)
    with np.errstate(invalid="ignore"):  # inf - inf: off the grid (NaN compares false)
        noise = np.abs(scaled - rounded)
    on_grid = (size < limit) & (noise <= np.maximum(_GRID_TOLERANCE, size * _GRID_RELATIVE))
    if not on_grid.all():
        rounded[~on_grid] = 0.0
    return rounded.astype(np.int64), on_grid


# -- crossings --------------------------------------------------------------------------------


def crossed_above(a: np.ndarray, b: np.ndarray | float) -> bool:
    """Whether `a` crossed above `b` (a series or a level) at its last value:
    a[-2] < b[-2] and a[-1] > b[-1]. Touching is not crossing."""
    if len(a) < 2:
        return False
    a0, b0, a1, b1 = _last_two(a, b)
    return bool(a0 < b0 and a1 > b1)


def crossed_below(a: np.ndarray, b: np.ndarray | float) -> bool:
    """Whether `a` crossed below `b` at its last value: a[-2] > b[-2] and a[-1] < b[-1]."""
    if len(a) < 2:
        return False
    a0, b0, a1, b1 = _last_two(a, b)
    return bool(a0 > b0 and a1 < b1)


def crossings(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """At every position (int8): 1 where `a` crossed above `b` there, -1 where it crossed below,
    else 0 (and 0 at the first position, which has nothing before it)."""
    a = np.asarray(a)
    b = np.broadcast_to(b, a.shape)
    out = np.zeros(len(a), np.int8)
    # NaN (the warm-up) compares false: it never crosses.
    up = (a[:-1] < b[:-1]) & (a[1:] > b[1:])
    down = (a[:-1] > b[:-1]) & (a[1:] < b[1:])
    out[1:] = up.view(np.int8) - down.view(np.int8)
    return out


def _last_two(a: np.ndarray, b: np.ndarray | float) -> tuple[float, float, float, float]:
    """a[-2], b[-2], a[-1], b[-1] (b may be a level)."""
    b0, b1 = (b, b) if np.ndim(b) == 0 else (b[-2], b[-1])
    return a[-2], b0, a[-1], b1


# -- recursive indicators: objects that carry their state ---------------------------------------


class _Recursive:
    """An indicator over one growing series (a strategy's `bars.close`, say). Call it with the
    series so far: it steps through the values it has not seen and returns its value at every
    position (NaN in the warm-up), as a read-only array. One object per series: a series that
    does not continue the one it saw (shorter, or a changed value) starts it over.

    Many new values go through `_step` (numpy), a few through `_one` (Python floats, cheaper
    per value in on_bar): both take the same operations, so the values have the same bits."""

    _FEW = 8  # new values taken one at a time

    def __init__(self, period: int):
        if period < 1:
            raise ValueError(f"a period is at least 1 bar, got {period}")
        self.period = period
        self._start_over()

    def _start_over(self) -> None:
        self._out = np.empty(0)
        self._seen = 0
        self._last: tuple[float, ...] = ()  # the last inputs seen, to know the series again

    def _take(self, *series: np.ndarray) -> np.ndarray:
        length = len(series[0])
        seen = self._seen
        if length < seen or (seen and tuple(float(s[seen - 1]) for s in series) != self._last):
            self._start_over()
            seen = 0
        if length > seen:
            if length > len(self._out):
                grown = np.empty(max(length, 2 * len(self._out)))
                grown[:seen] = self._out[:seen]
                self._out = grown
            if length - seen <= self._FEW:
                columns = [np.asarray(s[seen:length], dtype=np.float64).tolist() for s in series]
                self._out[seen:length] = [
                    self._one(*values) for values in zip(*columns, strict=True)
                ]
            else:
                new = [np.asarray(s[seen:length], dtype=np.float64) for s in series]
                self._out[seen:length] = self._step(*new)
            self._seen = length
            self._last = tuple(float(s[length - 1]) for s in series)
        view = self._out[:length]
        view.flags.writeable = False
        return view

    def _step(self, *new: np.ndarray) -> np.ndarray:
        """The indicator at each of the new values."""
        raise NotImplementedError

    def _one(self, *new: float) -> float:
        """The indicator at one new value: `_step`'s operations on Python floats."""
        raise NotImplementedError


class _Smoothing:
    """y = c * y_before + b * x for a few series side by side (rows), seeded with the plain mean
    of their first `seed` values (summed left to right; NaN until then).

    A Python loop over every value would be slow, so the recursion runs in blocks of `_size`
    steps from the value y0 before the block: y_j = c^j * (y0 + sum over i <= j of x_i * b / c^i),
    one cumulative sum (strictly left to right in numpy) per block. Blocks start at fixed
    positions after the seed, and `one` takes the same operations on one value, so every value
    has the same bits however the series arrived. It differs from the step-by-step recursion by
    rounding alone: about 1e-15 relative."""

    def __init__(self, rows: int, seed: int, c: float, b: float):
        self._seed, self._seed_left, self._total = seed, seed, [0.0] * rows
        self._c, self._b = c, b
        # c^-j for j up to the block size stays below 1e200: far from overflow.
        self._size = max(1, min(1024, int(200 / -np.log10(c)))) if 0 < c < 1 else 1024
        grow = c ** np.arange(1, self._size + 1)  # c^j
        self._grow, self._weight = grow, b / grow if c else np.full(self._size, b)  # b / c^j
        self._grow_list, self._weight_list = self._grow.tolist(), self._weight.tolist()
        self._last = [np.nan] * rows  # the latest smoothed values
        self._base, self._sum = self._last, [0.0] * rows  # the block's y0 and its sum so far
        self._filled = self._size  # steps of the block done (full: the next value starts one)

    def one(self, x: list[float]) -> list[float]:
        """The smoothed values after one more value of each row."""
        if self._seed_left:
            self._total = [t + v for t, v in zip(self._total, x, strict=True)]
            self._seed_left -= 1
            if self._seed_left:
                return [np.nan] * len(x)
            self._last = [t / self._seed for t in self._total]
        elif not self._c:  # no memory at all
            self._last = [v * self._b for v in x]
        else:
            if self._filled == self._size:
                self._start_block()
            weight, grow = self._weight_list[self._filled], self._grow_list[self._filled]
            self._sum = [s + v * weight for s, v in zip(self._sum, x, strict=True)]
            self._last = [(y0 + s) * grow for y0, s in zip(self._base, self._sum, strict=True)]
            self._filled += 1
        return self._last

    def step(self, x: np.ndarray) -> np.ndarray:
        """The smoothed values after each column of `x` (rows x new values)."""
        out = np.empty(x.shape)
        done, count = 0, x.shape[1]
        while done < count and self._seed_left:
            out[:, done] = self.one(x[:, done].tolist())
            done += 1
        if done < count and not self._c:
            out[:, done:] = x[:, done:] * self._b
            self._last, done = out[:, -1].tolist(), count
        while done < count:
            if self._filled == self._size:
                self._start_block()
            take = min(self._size - self._filled, count - done)
            at = slice(self._filled, self._filled + take)
            terms = x[:, done : done + take] * self._weight[at]
            sums = np.cumsum(np.column_stack([self._sum, terms]), axis=1)[:, 1:]
            out[:, done : done + take] = (np.array(self._base)[:, None] + sums) * self._grow[at]
            self._filled, done = self._filled + take, done + take
            self._sum, self._last = sums[:, -1].tolist(), out[:, done - 1].tolist()
        return out

    def _start_block(self) -> None:
        self._base, self._sum, self._filled = self._last, [0.0] * len(self._last), 0


class Ema(_Recursive):
    """Exponential moving average, alpha = 2 / (period + 1), seeded with the plain mean of the
    first `period` values (first value at position period - 1), then
    ema = (1 - alpha) * ema + alpha * x."""

    def _start_over(self) -> None:
        super()._start_over()
        alpha = 2.0 / (self.period + 1)
        self._smoothing = _Smoothing(1, self.period, 1.0 - alpha, alpha)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return self._take(values)

    def _step(self, values: np.ndarray) -> np.ndarray:
        return self._smoothing.step(values[None, :])[0]

    def _one(self, value: float) -> float:
        return self._smoothing.one([value])[0]


def _wilder(rows: int, period: int) -> _Smoothing:
    """Wilder's smoothing as TA-Lib has it: the plain mean of the first `period` values, then
    avg = avg * (period - 1) / period + x / period."""
    return _Smoothing(rows, period, (period - 1) / period, 1.0 / period)


class Rsi(_Recursive):
    """Wilder's RSI: the gains and losses of the close from bar to bar, each smoothed by Wilder
    (first value at position `period`); RSI = 100 * gain / (gain + loss): 100 with no losses,
    50 when the price did not move at all."""

    def _start_over(self) -> None:
        super()._start_over()
        self._previous = np.nan
        self._averages = _wilder(2, self.period)

    def __call__(self, close: np.ndarray) -> np.ndarray:
        return self._take(close)

    def _step(self, close: np.ndarray) -> np.ndarray:
        change = np.diff(close, prepend=self._previous)
        self._previous = float(close[-1])
        first = 1 if np.isnan(change[0]) else 0  # the very first bar has no change
        move = change[first:]
        moves = np.vstack([np.where(move > 0.0, move, 0.0), np.where(move < 0.0, -move, 0.0)])
        gain, loss = self._averages.step(moves)
        rsi = np.full(len(close), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            total = gain + loss
            rsi[first:] = np.where(
                np.isnan(gain), np.nan, np.where(total > 0.0, 100.0 * gain / total, 50.0)
            )
        return rsi

    def _one(self, close: float) -> float:
        move, self._previous = close - self._previous, close
        if move != move:  # the very first bar
            return np.nan
        gain, loss = self._averages.one([move if move > 0.0 else 0.0, -move if move < 0.0 else 0.0])
        total = gain + loss
        if gain != gain:
            return np.nan
        return 100.0 * gain / total if total > 0.0 else 50.0


class Atr(_Recursive):
    """Wilder's average true range: the true range from the second bar on (the largest of
    high - low and the distances of high and low from the previous close), smoothed by Wilder
    (first value at position `period`). Call it with high, low and close."""

    def _start_over(self) -> None:
        super()._start_over()
        self._previous = np.nan
        self._average = _wilder(1, self.period)

    def __call__(self, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
        return self._take(high, low, close)

    def _step(self, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
        before = np.concatenate([[self._previous], close[:-1]])
        self._previous = float(close[-1])
        true_range = np.maximum(high - low, np.maximum(np.abs(high - before), np.abs(low - before)))
        first = 1 if np.isnan(before[0]) else 0  # the very first bar has no previous close
        atr = np.full(len(close), np.nan)
        atr[first:] = self._average.step(true_range[None, first:])[0]
        return atr

    def _one(self, high: float, low: float, close: float) -> float:
        before, self._previous = self._previous, close
        if before != before:  # the very first bar
            return np.nan
        return self._average.one([max(high - low, abs(high - before), abs(low - before))])[0]
