"""The WebSocket endpoint ``/ws``: live, ordered, resumable job events (see WEBSOCKET.md)."""
