"""Persistence adapters: event store recorders that append every event to the
institution's ledger chain in the same transaction, and the directory of
institutions and access tokens."""
