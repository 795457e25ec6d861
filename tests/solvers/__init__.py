"""Tests of planner.solve and the solvers (solvers/, planner/distributed.py, stepaside.py)."""
