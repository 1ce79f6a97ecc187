"""Data-loading jobs: plan, fetch, merge and journal IB bars into the local store."""
