"""Conveyor service."""
