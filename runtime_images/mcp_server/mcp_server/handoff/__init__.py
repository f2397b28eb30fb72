"""Tier 3: handing irreversible work to the EventBridge → Step Functions workflow."""
