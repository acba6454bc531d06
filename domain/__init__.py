"""The journal's domain: aggregates, value objects and rules. Pure: no adapters."""
