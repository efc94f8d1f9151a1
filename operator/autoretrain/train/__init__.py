"""The reference trainer, ``python -m autoretrain.train``. May import ``api`` and ``store``."""
