"""Services: what the CLI, the API and the UI call. No business logic lives elsewhere."""
