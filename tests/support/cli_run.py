"""Run the CLI in-process, as a test sees it: exit code, stdout, stderr."""

from __future__ import annotations

from ktrdr_tui.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
