"""Planner: turns a snapshot of the live cluster and a backup into a reviewable plan (pure)."""

from .build import build_plan

__all__ = ["build_plan"]
