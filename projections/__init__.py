"""Read models: the journal page, the student's diary, a mark's history. Pure
functions from domain aggregates and events to response models."""
