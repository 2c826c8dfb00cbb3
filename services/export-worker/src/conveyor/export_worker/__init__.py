"""Conveyor's export worker: filtered awards to xlsx, csv and parquet, streamed."""
