"""The pure decisions: run state machine, canary, judge, schedule, policy. May import ``api``.

Each decision is a function of (spec, status, observation, now) to (status, actions):
``run`` moves a ModelRetrainRun one step, ``canary`` decides a canary step with
``judge``, ``promotion`` and ``faults`` end it, ``policy`` starts runs and prunes history.
"""
