"""Tests of the executor (planner/execute/): runs, journal, crashes, export."""
