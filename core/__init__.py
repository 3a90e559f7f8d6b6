"""The core under planner and executors: the document model, adapters, errors and data files."""

__version__ = "0.2.0"
