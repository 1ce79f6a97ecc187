"""Data-loading jobs: plan, fetch, merge and journal a bar source's bars into the local store."""
