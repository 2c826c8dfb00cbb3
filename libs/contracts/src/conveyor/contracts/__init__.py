"""Conveyor's message types, topology and Redis key names. Pure: no I/O."""
