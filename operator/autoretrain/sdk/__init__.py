"""The SDK for your own trainer: ``from autoretrain.sdk import Candidate``.

See ``autoretrain.sdk.candidate`` and docs/trainer-contract.md for the contract
it implements, which trainers in other languages implement by hand.
"""

from __future__ import annotations

from autoretrain.sdk.candidate import Candidate, ContractError, image_digest, input_schema

__all__ = ["Candidate", "ContractError", "image_digest", "input_schema"]
