"""``python -m autoretrain.gates``: the gate Job's entry point; see ``autoretrain.gates.runner``."""

from __future__ import annotations

import sys

from autoretrain.api.podhelp import environment_help
from autoretrain.api.pods import GATE_ENV, PodEnv
from autoretrain.gates import runner

if {"-h", "--help"} & set(sys.argv[1:]):
    # The gate takes no options: its whole input is the environment the operator sets.
    print("usage: python -m autoretrain.gates\n")
    print((runner.__doc__ or "").strip() + "\n")
    print(environment_help(GATE_ENV))
    print(environment_help((PodEnv.TERMINATION_MESSAGE_PATH,), "optional"))
    sys.exit(0)
sys.exit(runner.main())
