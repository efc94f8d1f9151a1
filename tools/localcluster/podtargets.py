"""Pod discovery for Prometheus: the API server's pods as ``file_sd`` targets.

Debian's Prometheus is built without Kubernetes service discovery, so this
small watcher does that one job: it lists and watches pods through the real
API server and rewrites a ``file_sd`` file (atomically) whenever the set of
scrapeable pods changes. Prometheus picks the file up through inotify at once.
A pod is scrapeable when it is Running, has a pod IP and is annotated
``prometheus.io/scrape: "true"`` (port from ``prometheus.io/port`` or its first
container port), the convention Prometheus' own Kubernetes discovery examples use.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

log = logging.getLogger("podtargets")


def target(pod: dict[str, Any]) -> dict[str, Any] | None:
    meta, status = pod["metadata"], pod.get("status") or {}
    annotations = meta.get("annotations") or {}
    if annotations.get("prometheus.io/scrape") != "true" or status.get("phase") != "Running":
        return None
    ip = status.get("podIP")
    ports = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports") or []]
    port = annotations.get("prometheus.io/port") or (ports[0] if ports else None)
    if not ip or port is None or meta.get("deletionTimestamp"):
        return None
    return {
        "targets": [f"{ip}:{port}"],
        "labels": {
            "namespace": meta["namespace"],
            "pod": meta["name"],
            "__metrics_path__": annotations.get("prometheus.io/path", "/metrics"),
        },
    }


def write(path: Path, pods: dict[str, dict[str, Any]]) -> None:
    groups = [t for t in (target(p) for p in pods.values()) if t is not None]
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(sorted(groups, key=lambda g: g["targets"][0]), indent=1))
    temporary.replace(path)


def run(api: client.ApiClient, path: Path) -> None:
    core = client.CoreV1Api(api)
    while True:
        try:
            listing = core.list_pod_for_all_namespaces(_request_timeout=30)
            pods = {p.metadata.uid: api.sanitize_for_serialization(p) for p in listing.items}
            write(path, pods)
            for event in watch.Watch().stream(
                core.list_pod_for_all_namespaces,
                resource_version=listing.metadata.resource_version,
                timeout_seconds=60,
                # A watch on an API server that was frozen or killed can hang on a
                # half-open connection; Prometheus would then never see a new pod.
                _request_timeout=75,
            ):
                pod = api.sanitize_for_serialization(event["object"])
                if event["type"] == "DELETED":
                    pods.pop(pod["metadata"]["uid"], None)
                else:
                    pods[pod["metadata"]["uid"]] = pod
                write(path, pods)
        except Exception:
            log.exception("pod watch failed; listing again")
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    run(config.new_client_from_config(config_file=args.kubeconfig), args.output)


if __name__ == "__main__":
    main()
