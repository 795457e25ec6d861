"""Tests of the problem builder (planner/problem*.py) and goal resolution (planner/goals.py)."""
