"""What a container sees: its environment and its expanded command line.

Kubernetes semantics: ``env`` entries are literals or references (ConfigMap,
Secret, downward API); ``envFrom`` imports whole ConfigMaps or Secrets; and
``$(VAR)`` in ``command``/``args``/later ``env`` values expands to an earlier
variable, with ``$$`` as an escape.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Lookup = Callable[[str, str, str], Mapping[str, str] | None]
"""(kind 'configmap'|'secret', namespace, name) -> data, or None when absent."""

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class EnvError(RuntimeError):
    """The container cannot start: a referenced object or key is missing."""


@dataclass(frozen=True)
class NodeAddresses:
    """What a container learns about where it runs."""

    pod_ip: str
    host_ip: str
    #: Where pods reach the API server. There is no kube-proxy to carry the
    #: ``kubernetes`` Service's cluster IP, so this is the API server's own address.
    api_host: str
    api_port: int

    def service_env(self) -> dict[str, str]:
        """The variables the kubelet sets for the ``kubernetes`` Service."""
        url = f"tcp://{self.api_host}:{self.api_port}"
        return {
            "KUBERNETES_SERVICE_HOST": self.api_host,
            "KUBERNETES_SERVICE_PORT": str(self.api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.api_port),
            "KUBERNETES_PORT": url,
            f"KUBERNETES_PORT_{self.api_port}_TCP": url,
            f"KUBERNETES_PORT_{self.api_port}_TCP_PROTO": "tcp",
            f"KUBERNETES_PORT_{self.api_port}_TCP_PORT": str(self.api_port),
            f"KUBERNETES_PORT_{self.api_port}_TCP_ADDR": self.api_host,
        }


def expand(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REF.sub(replace, text)


def missing(kind: str, namespace: str, name: str, key: str | None) -> str:
    """The kubelet's words for a missing ConfigMap or Secret, or a key missing from one."""
    if key is None:
        return f'{kind} "{name}" not found'
    title = {"configmap": "ConfigMap", "secret": "Secret"}[kind]
    return f"couldn't find key {key} in {title} {namespace}/{name}"


def field_value(pod: Mapping[str, Any], path: str, pod_ip: str, host_ip: str) -> str:
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.hostIP": host_ip,
        "status.podIPs": pod_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str(meta.get(match.group(1), {}).get(match.group(2), ""))
    raise EnvError(f"unsupported fieldRef {path!r}")


def _ref_value(source: Mapping[str, Any], namespace: str, lookup: Lookup) -> str | None:
    for kind, key_name in (("configmap", "configMapKeyRef"), ("secret", "secretKeyRef")):
        ref = source.get(key_name)
        if ref is None:
            continue
        data = lookup(kind, namespace, ref["name"])
        if data is not None and ref["key"] in data:
            return data[ref["key"]]
        if ref.get("optional", False):
            return None
        raise EnvError(missing(kind, namespace, ref["name"], None if data is None else ref["key"]))
    raise EnvError(f"unsupported valueFrom {sorted(source)}")


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    image_env: Sequence[str],
    node: NodeAddresses,
    lookup: Lookup,
) -> dict[str, str]:
    """The image's environment, then what the kubelet adds, then the container's own."""
    namespace = pod["metadata"]["namespace"]
    env = dict(item.split("=", 1) for item in image_env if "=" in item)
    env["HOSTNAME"] = pod["spec"].get("hostname") or pod["metadata"]["name"]
    env.update(node.service_env())
    for source in container.get("envFrom", []) or []:
        prefix = source.get("prefix", "")
        for kind, key_name in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = source.get(key_name)
            if ref is None:
                continue
            data = lookup(kind, namespace, ref["name"])
            if data is None:
                if ref.get("optional"):
                    continue
                raise EnvError(missing(kind, namespace, ref["name"], None))
            env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env", []) or []:
        if "valueFrom" in (var or {}) and var["valueFrom"] is not None:
            source = var["valueFrom"]
            if "fieldRef" in source:
                env[var["name"]] = field_value(
                    pod, source["fieldRef"]["fieldPath"], node.pod_ip, node.host_ip
                )
                continue
            value = _ref_value(source, namespace, lookup)
            if value is not None:
                env[var["name"]] = value
        else:
            env[var["name"]] = expand(var.get("value") or "", env)
    return env


def command_line(
    container: Mapping[str, Any],
    entrypoint: Sequence[str],
    cmd: Sequence[str],
    env: Mapping[str, str],
) -> list[str]:
    """Kubernetes' rule: ``command`` replaces the image's entrypoint, ``args`` its cmd.

    A container with ``command`` but no ``args`` drops the image's cmd too.
    """
    command = container.get("command")
    args = container.get("args")
    argv = [*command, *(args or [])] if command else [*entrypoint, *(args or cmd)]
    if not argv:
        raise EnvError("no command specified: neither the container nor its image names one")
    return [expand(part, env) for part in argv]


def decode_secret(data: Mapping[str, str] | None) -> dict[str, str] | None:
    if data is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in data.items()}
