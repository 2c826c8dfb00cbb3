"""The task-manager web page: static files served by the gateway, no build step."""
