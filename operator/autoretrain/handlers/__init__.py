"""kopf glue: observe, ask the lifecycle, act, write status once. May import every layer below.

``runs`` and ``modelretrains`` reconcile the two kinds; ``operator`` wires them to
kopf's watches through a work queue.
"""
