"""Tests of conveyor.awards (pure data: no broker, no Redis)."""
