"""HTTP API (FastAPI) and the `ejournal` command line: thin adapters over `application`."""
