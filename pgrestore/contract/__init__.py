"""The contract between plan and apply: the typed plan, plan set and journal documents, and their JSON
Schemas. It imports nothing of pgrestore's but its errors (.importlinter holds it to that)."""
