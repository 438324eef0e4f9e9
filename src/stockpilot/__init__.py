"""Stockpilot: one real-time truth of sellable stock, and the automations that follow."""
