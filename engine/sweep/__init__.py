"""Parameter sweeps (DESIGN.md, "Sweeps"): many backtests over a grid of strategy parameters
and trading rules, on this machine's cores or on a Dask cluster, as a resumable job.

    grid.py        GRID texts, their candidates, refused combinations counted
    run.py         one backtest of a sweep: what `backtest` does at speed 0
    shared.py      the bars as one buffer: shared memory here, scattered to a cluster there
    processes.py   how local worker processes are made (import-light)
    executors.py   `local` worker processes (the parent standing in until they are up), `dask`
    journal.py     the sweep's journal and its results file under <data-dir>/jobs/sweeps/
    job.py         planning a sweep, running it as a job, its status
    report.py      results as ranked rows and CSV
"""
