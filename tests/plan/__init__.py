"""Tests of plans (planner/plan.py, check*.py, schedule.py, ledger*.py) and their digests."""
