"""Prefect tasks, one module per system checked."""
