"""Tests of the inventory (planner/inventory/): io, validation, collection, samples, schema."""
