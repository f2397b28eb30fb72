"""Lambdas of the handoff workflow: validate → [approval] → execute once → record outcome."""
