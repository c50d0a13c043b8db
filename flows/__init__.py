"""Prefect flows: the three phases of the staging handoff plan and the flow that gates them."""
