"""Shared test helpers: fleets, plans, solver and oracle checks, PNG checks."""
