"""One module per step kind, each with `run(step, ctx) -> observed`."""
