"""The doors: one module per platform, each translating to and from the core.

No adapter imports another; `bot/` imports none of them.
"""
