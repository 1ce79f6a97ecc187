"""One cold sweep in a fresh process, for bench_sweep: `python bench/sweep_cold.py YEARS
WORKERS` prints its seconds and results as JSON.

Run by its path and importing nothing before its `__main__` guard, as `ktrdr-tui`'s console
script is: every local worker imports its parent's main module again as it starts (Python's
forkserver and spawn do), so a child run as `-m bench.bench_sweep` would have its workers
import the whole benchmark first, which the CLI's do not."""

if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository
    from engine.sweep.processes import keep_freed_memory, prestart_local

    # As `ktrdr-tui sweep` does before its own work: its worker server imports the engine
    # while this process does.
    prestart_local()
    keep_freed_memory()
    from bench.bench_sweep import cold_child

    cold_child(int(sys.argv[1]), int(sys.argv[2]))
