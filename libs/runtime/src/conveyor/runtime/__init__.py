"""Shared runtime for Conveyor services."""
