"""Under planner and executors: the document model, adapters, errors and domain logic."""
