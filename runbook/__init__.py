"""The core of staging-runbook: configuration, results and gates, Google clients, reports, CLI."""
