"""Tests of the static rules (planner/rules/), durations, restart placement and explain."""
