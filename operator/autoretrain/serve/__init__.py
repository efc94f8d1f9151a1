"""The reference model server, ``python -m autoretrain.serve``. May import ``api`` and ``store``.

It serves one sha256-verified skops model over the Open Inference Protocol v2
(JSON) and exports the Prometheus metrics the built-in online checks read.
"""
