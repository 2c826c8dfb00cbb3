"""Conveyor's maintenance service: the scheduler and the maintenance job handlers."""
