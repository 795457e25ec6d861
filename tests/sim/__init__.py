"""Tests of the XAPI simulator (planner/sim/)."""
