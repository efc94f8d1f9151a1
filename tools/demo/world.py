"""One ModelRetrain's world in a fresh namespace: data, a champion, a serving Deployment."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoretrain.api.common import FINAL_RUN_PHASES, ModelVersionRef
from autoretrain.api.pods import PodEnv, version_folder_uri
from autoretrain.lifecycle.schedule import manual_run_name
from autoretrain.store.errors import StoreError
from autoretrain.store.objects import open_store
from autoretrain.store.registry import ModelRegistry
from demo import data
from demo.platform import Platform
from localcluster.cluster import Cluster, eventually
from localcluster.imagebuild import chart_image
from localcluster.s3server import create_bucket

SERVER = "churn-server"
FINAL = tuple(sorted(FINAL_RUN_PHASES))
#: The Secret with the S3 endpoint and keys, which the ModelRetrain names.
S3_SECRET = "s3-credentials"  # noqa: S105 (a name, not a password)
#: The champion every story starts from, and where this process first trained it, by S3 endpoint.
FIRST_VERSION = "v0"
_FIRST_MODELS: dict[str, str] = {}


@dataclass
class World:
    """A team's namespace: its bucket on the S3 server and the Secret that opens it."""

    platform: Platform
    namespace: str
    root: Path
    #: The team's bucket; the namespace's name unless said otherwise.
    bucket: str = ""

    def __post_init__(self) -> None:
        self.bucket = self.bucket or self.namespace

    @property
    def cluster(self) -> Cluster:
        return self.platform.cluster

    @property
    def store_uri(self) -> str:
        return f"s3://{self.bucket}/churn/"

    @property
    def data_uri(self) -> str:
        return f"s3://{self.bucket}/data/"

    @property
    def s3_env(self) -> dict[str, str]:
        return self.platform.s3_credentials.env(self.platform.s3_endpoint)

    def setup(self) -> None:
        """The bucket and the Secret a user would have before applying a ModelRetrain."""
        self.create_bucket()
        self.cluster.kubectl(
            "create",
            "secret",
            "generic",
            S3_SECRET,
            "-n",
            self.namespace,
            *(f"--from-literal={k}={v}" for k, v in self.s3_env.items()),
        )

    @classmethod
    def without_pods(cls, platform: Platform, prefix: str) -> World:
        """A new namespace where ModelRetrains find all they name and no pod ever starts.

        For benchmarks of the operator alone: the serving Deployment is scaled to zero
        and a quota of zero pods holds every Job, as on a full cluster.
        """
        namespace = f"{prefix}-{int(time.time())}"
        platform.cluster.kubectl("create", "namespace", namespace)
        world = cls(platform, namespace, Path("/nonexistent"))
        world.setup()
        world.cluster.kubectl("create", "quota", "no-pods", "-n", namespace, "--hard=pods=0")
        nothing = ModelVersionRef(
            version="v0", uri=f"{world.store_uri}v0/model.skops", sha256="0" * 64
        )
        world.apply(serving_deployment(nothing, replicas=0))
        return world

    def create_bucket(self) -> None:
        create_bucket(self.platform.s3_endpoint, self.platform.s3_credentials, self.bucket)

    def write_day(self, kind: data.Scenario, seed: int) -> None:
        folder = self.root / "data"
        data.write_day(folder, kind, seed)
        store = open_store(self.data_uri, self.s3_env)
        for name in ("train.csv", "holdout.csv"):
            store.put(name, (folder / name).read_bytes())

    def registry(self) -> ModelRegistry:
        return ModelRegistry(open_store(self.store_uri, self.s3_env))

    def train_first_model(self, version: str) -> ModelVersionRef:
        """The team's first model, trained by a Job from the same image the operator uses.

        In the image, so the first champion's dependencies are the ones every later
        candidate is compared with.
        """
        name = f"bootstrap-{version}"
        env = {
            PodEnv.RUN: version,
            PodEnv.VERSION: version,
            PodEnv.OUTPUT_URI: version_folder_uri(self.store_uri, version),
            PodEnv.TRAIN_URI: f"{self.data_uri}train.csv",
            PodEnv.HOLDOUT_URI: f"{self.data_uri}holdout.csv",
        }
        self.apply(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "automountServiceAccountToken": False,
                            "securityContext": {"runAsNonRoot": True},
                            "containers": [
                                {
                                    "name": "train",
                                    "image": chart_image(),
                                    "command": ["python", "-m", "autoretrain.train", *TRAINER_ARGS],
                                    "env": [{"name": k, "value": v} for k, v in env.items()],
                                    "envFrom": [{"secretRef": {"name": S3_SECRET}}],
                                    "securityContext": RESTRICTED,
                                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                                }
                            ],
                            "volumes": [{"name": "tmp", "emptyDir": {}}],
                        }
                    },
                },
            }
        )
        self.cluster.wait_for_job(self.namespace, name)
        (pod,) = self.cluster.get_json("pods", "-n", self.namespace, "-l", f"job-name={name}")[
            "items"
        ]
        report = json.loads(pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"])
        return ModelVersionRef(version=version, uri=report["candidateUri"], sha256=report["sha256"])

    def bootstrap_champion(self) -> ModelVersionRef:
        """Version v0, trained on the first good day and promoted: where every story starts."""
        self.write_day("good", seed=1)
        champion = self._copy_first_model() or self.train_first_model(FIRST_VERSION)
        self.registry().promote(FIRST_VERSION, expected_sequence=0, run="bootstrap")
        _FIRST_MODELS[self.platform.s3_endpoint] = version_folder_uri(self.store_uri, FIRST_VERSION)
        return champion

    def serve_first_champion(
        self, day: data.Scenario | None = None, seed: int = 0
    ) -> ModelVersionRef:
        """Promote and serve the first champion, then deliver ``day``'s data if named."""
        champion = self.bootstrap_champion()
        self.serve(champion)
        if day is not None:
            self.write_day(day, seed)
        return champion

    def _copy_first_model(self) -> ModelVersionRef | None:
        """A copy of the first model an earlier world of this process trained, if any.

        The first model is the same in every world (the same data, seed and image), so
        later worlds copy its sealed files instead of waiting for another training Job.
        """
        source_uri = _FIRST_MODELS.get(self.platform.s3_endpoint)
        if source_uri is None:
            return None
        source = open_store(source_uri, self.s3_env)
        target = open_store(version_folder_uri(self.store_uri, FIRST_VERSION), self.s3_env)
        try:
            keys = source.list()
            for key in keys:
                target.put(key, source.get(key))
        except StoreError:  # that world's bucket is gone: train again
            return None
        if not keys:
            return None
        registry = self.registry()
        return ModelVersionRef(
            version=FIRST_VERSION,
            uri=registry.model_uri(FIRST_VERSION),
            sha256=registry.metadata(FIRST_VERSION).sha256,
        )

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
        self.apply(modelretrain(self.store_uri, self.data_uri, **spec))

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
        return env.get(PodEnv.MODEL_VERSION)

    def diagnostics(self) -> str:
        """What a failed test needs to say why: each run's outcome, and failed pods' story."""
        lines = []
        runs = self.cluster.get_json("modelretrainruns", "-n", self.namespace)["items"]
        for run in runs:
            status = run.get("status") or {}
            lines.append(
                f"run {run['metadata']['name']}: {status.get('phase')} {status.get('reason')}: "
                f"{status.get('message')}"
            )
        lines.append(self.cluster.pods_story(self.namespace, failed_only=True))
        return "\n".join(lines)

    def jobs(self) -> list[str]:
        """The Jobs the operator made for this ModelRetrain's runs."""
        listed = self.cluster.get_json(
            "jobs", "-n", self.namespace, "-l", "autoretrain.io/model-retrain=churn"
        )
        return sorted(j["metadata"]["name"] for j in listed["items"])


TRAINER_ARGS = ["--label", data.LABEL]


#: What the project's pods ask of the runtime, as a restricted namespace requires.
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def serving_deployment(model: ModelVersionRef, replicas: int) -> dict[str, Any]:
    env = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": PodEnv.MODEL_NAME, "value": "churn"},
        {"name": PodEnv.MODEL_URI, "value": model.uri},
        {"name": PodEnv.MODEL_SHA256, "value": model.sha256},
        {"name": PodEnv.MODEL_VERSION, "value": model.version},
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
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                    "containers": [
                        {
                            "name": "server",
                            "image": chart_image(),
                            "command": ["python", "-m", "autoretrain.serve"],
                            "env": env,
                            "envFrom": [{"secretRef": {"name": S3_SECRET}}],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "readinessProbe": {
                                "httpGet": {"path": "/v2/health/ready", "port": "http"},
                                "periodSeconds": 1,
                            },
                            "securityContext": RESTRICTED,
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            "resources": {"limits": {"memory": "512Mi"}},
                        }
                    ],
                },
            },
        },
    }


def training(*command: str, backoff_limit: int = 0) -> dict[str, Any]:
    """A ModelRetrain's ``training`` running ``command`` (the reference trainer by default)."""
    container = {
        "name": "train",
        "image": chart_image(),
        "command": list(command) or ["python", "-m", "autoretrain.train", *TRAINER_ARGS],
        "resources": {"limits": {"memory": "1Gi"}},
    }
    return {"backoffLimit": backoff_limit, "template": {"spec": {"containers": [container]}}}


def modelretrain(store_uri: str, data_uri: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoretrain.io/v1alpha1",
        "kind": "ModelRetrain",
        "metadata": {"name": "churn"},
        "spec": {
            "artifacts": {"uri": store_uri, "secretRef": {"name": S3_SECRET}},
            "data": {"train": f"{data_uri}train.csv", "holdout": f"{data_uri}holdout.csv"},
            "training": training(),
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
