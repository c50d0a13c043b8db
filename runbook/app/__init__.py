"""The application: the `runbook` command line and what it runs (a Prefect server of its own, `serve`, interrupts).

The only part of `runbook/` that may import `flows/`.
"""
