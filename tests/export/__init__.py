"""Tests of the export worker's modules."""
