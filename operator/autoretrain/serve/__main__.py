"""``python -m autoretrain.serve``: the reference model server."""

from autoretrain.serve.server import main

raise SystemExit(main())
