"""Deterministic names of a run's children: creating twice adopts the first."""

from __future__ import annotations


def training_job_name(run: str) -> str:
    return f"{run}-train"


def gate_job_name(run: str) -> str:
    return f"{run}-gate"


def canary_deployment_name(serving: str) -> str:
    return f"{serving}-canary"
