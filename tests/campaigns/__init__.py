"""Tests of the campaign goals (planner/campaigns/, planner/home.py)."""
