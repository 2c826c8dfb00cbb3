"""Conveyor's HTTP and WebSocket gateway: submit, inspect and cancel jobs, stream their events."""
