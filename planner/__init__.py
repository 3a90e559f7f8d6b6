"""Planner: turns a snapshot of the live cluster and a backup into a reviewable plan (pure)."""
