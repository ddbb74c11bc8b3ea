"""Signals the layers above listen to (accounts may not import them)."""

from django.dispatch import Signal

# Sent with `user` inside the transaction that changed the user's hourly cost: every figure
# costing that user's visits is then out of date (health requests their refresh).
hourly_cost_changed = Signal()
