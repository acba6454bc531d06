"""Use cases, actor authorisation and the unit of work (eventsourcing applications)."""
