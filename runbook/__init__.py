"""The core of staging-runbook: checks and their outcomes, phases and gates, the plan, the report.

Around it, in wings: config/ (environment files), google/ (Google Cloud access), slack/ (everything Slack) and
app/ (the `runbook` command line). ARCHITECTURE.md has the map.
"""
