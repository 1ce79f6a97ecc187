"""The open-session dialog's session files (DESIGN.md, "Sessions"): `ctrl+s` saves the dialog's
fields as `<config-dir>/sessions/NAME.toml`, `ctrl+o` lists the files there and opens one into
the fields. `ktrdr-tui backtest --session FILE` runs the same files.

Files are read and written in threads (a slow disk never holds the UI; opening one checks its
strategies, which runs their code). A bad file is one line in the picker, naming the file and
the key; the dialog's fields change only once a file has been read and fits them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine.session.session_file import (
    SessionFile,
    SessionFileError,
    read_session_file,
    write_session_file,
)
from ktrdr_tui.formatting import plural
from ktrdr_tui.workers import ReportsWorkerErrors

SUFFIX = ".toml"
# A file name, never a path: letters, digits, spaces, `.`, `_`, `-`, at most 64.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")
NO_FILES = "No saved sessions yet: ctrl+s in the open-session dialog saves one here."

_DIALOG_CSS = """
{screen} {{
    align: center middle;
}}
{screen} > Vertical {{
    width: 72;
    max-width: 100%;
    height: auto;
    max-height: 100%;
    border: round $primary;
    background: $surface;
    padding: 1 2;
}}
{screen} .dialog-title {{
    text-style: bold;
    color: $primary;
    margin-bottom: 1;
}}
{screen} Label {{
    color: $text-muted;
}}
{screen} .line {{
    margin-top: 1;
    color: $text-muted;
    height: auto;
}}
{screen} .line.-error {{
    color: $error;
}}
{screen} .hint {{
    margin-top: 1;
}}
"""


def describe(session: SessionFile) -> str:
    """A file in the picker: `AAPL MSFT 1m 2024-03-04 → 2024-03-15 · 2 strategies`."""
    what = [" ".join(session.symbols), session.timeframe or ""]
    if session.start or session.end:
        what.append(f"{session.start or '…'} → {session.end or '…'}")
    parts = [" ".join(part for part in what if part)]
    if session.strategies:
        parts.append(plural(len(session.strategies), "strategy", "strategies"))
    return " · ".join(part for part in parts if part) or "(no keys)"


def shown(path: Path) -> str:
    """`path` as the dialogs show it: under the home folder as `~/…` (shorter, and the same
    wherever the home is)."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def check_name(text: str) -> str:
    """The file name `text` makes (`NAME.toml`), or a ValueError with the line the user sees."""
    name = text.strip()
    if name.lower().endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
    if not _NAME.fullmatch(name):
        raise ValueError(
            "a name of letters, digits, spaces, '.', '_' or '-', up to 64 (no folders)"
        )
    return name + SUFFIX


class SaveSessionScreen(ReportsWorkerErrors, ModalScreen["Path | None"]):
    """A name for the session file; enter writes it (replacing one of that name) and hands
    back its path."""

    DEFAULT_CSS = _DIALOG_CSS.format(screen="SaveSessionScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="save-session.cancel")]

    def __init__(self, folder: Path, session: SessionFile, name: str):
        super().__init__()
        self._folder, self._session, self._name = folder, session, name
        self._saving = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Save the session", classes="dialog-title")
            yield Label("Name")
            yield Input(self._name, id="name", compact=True)
            yield Static("", id="where", classes="line", markup=False)
            yield Label("enter saves · escape goes back", classes="hint")

    def on_mount(self) -> None:
        self._show_where(self.query_one("#name", Input).value)

    @on(Input.Changed, "#name")
    def _name_changed(self, event: Input.Changed) -> None:
        self._show_where(event.value)

    def _show_where(self, text: str) -> None:
        line = self.query_one("#where", Static)
        try:
            path = self._folder / check_name(text)
        except ValueError as exc:
            line.set_class(True, "-error")
            line.update(str(exc))
            return
        line.set_class(False, "-error")
        replaces = " (replaces the file of that name)" if path.exists() else ""
        line.update(f"Saves {shown(path)}{replaces}")

    @on(Input.Submitted, "#name")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            path = self._folder / check_name(event.value)
        except ValueError:
            return  # the line under the field says why
        if not self._saving:
            self._saving = True
            self._write(path)

    @work(thread=True, exclusive=True, exit_on_error=False, description="save the session")
    def _write(self, path: Path) -> None:
        try:
            write_session_file(path, self._session)
        except OSError as exc:
            problem = f"Cannot write {shown(path)}: {exc.strerror or exc}"
            self.app.call_from_thread(self._failed, problem)
            return
        self.app.call_from_thread(self._written, path)

    def _failed(self, message: str) -> None:
        self._saving = False
        line = self.query_one("#where", Static)
        line.set_class(True, "-error")
        line.update(message)

    def _written(self, path: Path) -> None:
        if self.is_attached and self.is_current:
            self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SessionFilesScreen(ReportsWorkerErrors, ModalScreen["SessionFile | None"]):
    """The session files of `folder`, each with what it plays; enter reads the highlighted
    one and hands it back if `fits` (the dialog's check: its strategies and stored bars) has
    nothing to say, else shows the one line."""

    DEFAULT_CSS = (
        _DIALOG_CSS.format(screen="SessionFilesScreen")
        + """
    SessionFilesScreen #files {
        height: auto;
        max-height: 12;
    }
    """
    )
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="session-files.cancel")]

    def __init__(self, folder: Path, fits: Callable[[SessionFile], str]):
        super().__init__()
        self._folder, self._fits = folder, fits
        self._paths: list[Path] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Open a saved session", classes="dialog-title")
            yield OptionList(id="files")
            yield Static(f"Reading {shown(self._folder)}…", id="line", classes="line", markup=False)
            yield Label("enter opens it in the dialog · escape goes back", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#files", OptionList).display = False
        self._list()

    @work(thread=True, exclusive=True, exit_on_error=False, description="list the sessions")
    def _list(self) -> None:
        try:
            paths = sorted(
                (p for p in self._folder.glob(f"*{SUFFIX}") if p.is_file()),
                key=lambda p: p.name.lower(),
            )
        except OSError as exc:
            problem = f"Cannot read {shown(self._folder)}: {exc.strerror or exc}"
            self.app.call_from_thread(self._show, problem, True)
            return
        listed = []
        for path in paths:
            try:
                about = describe(read_session_file(path))
            except SessionFileError:
                about = "⚠ cannot be read (enter says why)"
            listed.append((path, about))
        self.app.call_from_thread(self._listed, listed)

    def _listed(self, listed: list[tuple[Path, str]]) -> None:
        if not self.is_attached:
            return
        if not listed:
            self._show(f"{NO_FILES} ({shown(self._folder)})")
            return
        self._paths = [path for path, _ in listed]
        width = max(len(path.stem) for path in self._paths)
        files = self.query_one("#files", OptionList)
        files.add_options(
            Option(f"{path.stem:<{width}}  {about}", id=str(i))
            for i, (path, about) in enumerate(listed)
        )
        files.display = True
        files.highlighted = 0
        files.focus()
        self._show(f"In {shown(self._folder)}")

    def _show(self, text: str, error: bool = False) -> None:
        line = self.query_one("#line", Static)
        line.set_class(error, "-error")
        line.update(text)

    @on(OptionList.OptionSelected, "#files")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        path = self._paths[event.option_index]
        self._show(f"Reading {path.name}…")
        self._read(path)

    @work(thread=True, exclusive=True, exit_on_error=False, description="read the session")
    def _read(self, path: Path) -> None:
        try:
            session = read_session_file(path)
        except SessionFileError as exc:  # `PATH: key: problem`
            problem = str(exc).replace(str(path), shown(path), 1)
            self.app.call_from_thread(self._show, problem, True)
            return
        problem = self._fits(session)  # strategies' code runs: here, in the thread
        if problem:
            self.app.call_from_thread(self._show, f"{shown(path)}: {problem}", True)
        else:
            self.app.call_from_thread(self._chosen, session)

    def _chosen(self, session: SessionFile) -> None:
        if self.is_attached and self.is_current:
            self.dismiss(session)

    def action_cancel(self) -> None:
        self.dismiss(None)
