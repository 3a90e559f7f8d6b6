"""Executors: carry out a plan's steps against the cluster, one module per step kind."""
