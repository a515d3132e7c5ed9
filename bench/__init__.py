"""agentloom benchmarks; run ``python -m bench``."""
