"""The offline gate Job, ``python -m autoretrain.gates``. May import ``api`` and ``store``."""
