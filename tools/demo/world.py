"""One ModelRetrain's world in a fresh namespace: data, a champion, a serving Deployment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoretrain.api.common import ModelVersionRef
from autoretrain.lifecycle.schedule import manual_run_name
from autoretrain.store.registry import ModelRegistry
from demo import data
from localcluster.cluster import Cluster, eventually

SERVER = "churn-server"
FINAL = ("Succeeded", "Rejected", "RolledBack", "Failed")


@dataclass
class World:
    cluster: Cluster
    namespace: str
    root: Path

    @property
    def store_uri(self) -> str:
        return f"file://{self.root}/store/"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def write_day(self, kind: data.Scenario, seed: int) -> None:
        data.write_day(self.data_dir, kind, seed)

    def registry(self) -> ModelRegistry:
        return ModelRegistry.open(self.store_uri)

    def train_locally(self, version: str) -> ModelVersionRef:
        """Runs the reference trainer as a plain process, as a bootstrap would."""
        message = self.root / f"{version}.termination"
        env = {
            **os.environ,
            "AUTORETRAIN_RUN": version,
            "AUTORETRAIN_VERSION": version,
            "AUTORETRAIN_OUTPUT_URI": f"{self.store_uri}versions/{version}/",
            "AUTORETRAIN_TRAIN_URI": f"file://{self.data_dir}/train.csv",
            "AUTORETRAIN_HOLDOUT_URI": f"file://{self.data_dir}/holdout.csv",
            "AUTORETRAIN_TERMINATION_MESSAGE_PATH": str(message),
        }
        subprocess.run(
            [sys.executable, "-m", "autoretrain.train", *TRAINER_ARGS],
            env=env,
            check=True,
            capture_output=True,
        )
        report = json.loads(message.read_text())
        return ModelVersionRef(version=version, uri=report["candidateUri"], sha256=report["sha256"])

    def bootstrap_champion(self) -> ModelVersionRef:
        self.write_day("good", seed=1)
        champion = self.train_locally("v0")
        self.registry().promote("v0", expected_sequence=0, run="bootstrap")
        return champion

    def apply(self, obj: dict[str, Any]) -> None:
        self.cluster.kubectl("apply", "-n", self.namespace, "-f", "-", input=json.dumps(obj))

    def serve(self, model: ModelVersionRef, replicas: int = 2) -> None:
        self.apply(serving_deployment(model, replicas))
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": SERVER},
                "spec": {
                    "selector": {"app": "churn"},
                    "ports": [{"name": "http", "port": 8080, "targetPort": 8080}],
                },
            }
        )
        self.cluster.kubectl(
            "rollout", "status", "-n", self.namespace, f"deploy/{SERVER}", "--timeout=90s"
        )

    def modelretrain(self, **spec: Any) -> None:
        self.apply(modelretrain(self.store_uri, self.data_dir, **spec))

    def trigger(self, value: str) -> str:
        self.cluster.kubectl(
            "annotate",
            "-n",
            self.namespace,
            "modelretrain",
            "churn",
            f"autoretrain.io/trigger={value}",
            "--overwrite",
        )
        return manual_run_name("churn", value)

    def run(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.cluster.get_json("modelretrainrun", "-n", self.namespace, name)
        return found

    def wait_phase(
        self, name: str, phases: tuple[str, ...] = FINAL, timeout: float = 240
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            result = self.cluster.kubectl(
                "get", "modelretrainrun", "-n", self.namespace, name, "-o", "json", check=False
            )
            if result.returncode != 0:
                return None
            run: dict[str, Any] = json.loads(result.stdout)
            return run if (run.get("status") or {}).get("phase") in phases else None

        found: dict[str, Any] = eventually(
            reached,
            timeout=timeout,
            interval=0.5,
            what=lambda: f"run {name} in {phases} (status now: {self._status(name)})",
        )
        return found

    def _status(self, name: str) -> object:
        result = self.cluster.kubectl(
            "get", "modelretrainrun", "-n", self.namespace, name, "-o", "json", check=False
        )
        return json.loads(result.stdout).get("status") if result.returncode == 0 else None

    def served_version(self) -> str | None:
        deployment = self.cluster.get_json("deployment", "-n", self.namespace, SERVER)
        env = {
            e["name"]: e.get("value")
            for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])
        }
        return env.get("AUTORETRAIN_MODEL_VERSION")

    def jobs(self) -> list[str]:
        return sorted(
            j["metadata"]["name"]
            for j in self.cluster.get_json("jobs", "-n", self.namespace)["items"]
        )


TRAINER_ARGS = ["--label", data.LABEL]


def serving_deployment(model: ModelVersionRef, replicas: int) -> dict[str, Any]:
    env = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "AUTORETRAIN_MODEL_NAME", "value": "churn"},
        {"name": "AUTORETRAIN_MODEL_URI", "value": model.uri},
        {"name": "AUTORETRAIN_MODEL_SHA256", "value": model.sha256},
        {"name": "AUTORETRAIN_MODEL_VERSION", "value": model.version},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": SERVER},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 60,
            "selector": {"matchLabels": {"app": "churn"}},
            "template": {
                "metadata": {
                    "labels": {"app": "churn"},
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "image": "autoretrain:0.1.0",
                            "command": ["python", "-m", "autoretrain.serve"],
                            "env": env,
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/v2/health/ready", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ]
                },
            },
        },
    }


def modelretrain(store_uri: str, data_dir: Path, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoretrain.io/v1alpha1",
        "kind": "ModelRetrain",
        "metadata": {"name": "churn"},
        "spec": {
            "artifacts": {"uri": store_uri},
            "data": {
                "train": f"file://{data_dir}/train.csv",
                "holdout": f"file://{data_dir}/holdout.csv",
            },
            "training": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "train",
                                "image": "autoretrain:0.1.0",
                                "command": ["python", "-m", "autoretrain.train", *TRAINER_ARGS],
                            }
                        ]
                    }
                },
            },
            "gates": {
                "offline": {
                    "labelColumn": data.LABEL,
                    "checks": [
                        {"metric": {"metric": "roc_auc", "min": 0.7, "maxDropVsChampion": 0.05}}
                    ],
                }
            },
            "serving": {
                "deploymentRef": {"name": SERVER},
                "container": "server",
                "rolloutTimeoutSeconds": 90,
            },
            **spec,
        },
    }
