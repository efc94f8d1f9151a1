"""The ``autoretrain`` command: run the operator, check the API. May import every package."""
