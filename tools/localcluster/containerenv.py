"""What a container sees: its environment and its expanded command line.

Kubernetes semantics: ``env`` entries are literals or references (ConfigMap,
Secret, downward API); ``envFrom`` imports whole ConfigMaps or Secrets; and
``$(VAR)`` in ``command``/``args``/later ``env`` values expands to an earlier
variable, with ``$$`` as an escape.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

# A stand-in process needs the host's PATH to find its interpreter (there is no
# image filesystem); nothing else of the agent's environment leaks in.
_HOST_VARS = ("PATH", "LANG", "LC_ALL", "TZ", "VIRTUAL_ENV", "PYTHONPATH")

Lookup = Callable[[str, str, str], Mapping[str, str] | None]
"""(kind 'configmap'|'secret', namespace, name) -> data, or None when absent."""

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class EnvError(RuntimeError):
    """The container cannot start: a referenced object or key is missing."""


def expand(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REF.sub(replace, text)


def _field(pod: Mapping[str, Any], path: str, pod_ip: str) -> str:
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.hostIP": "127.0.0.1",
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
        optional = bool(ref.get("optional", False))
        if data is None or ref["key"] not in data:
            if optional:
                return None
            raise EnvError(f"{kind} {ref['name']!r} key {ref['key']!r} not found")
        return data[ref["key"]]
    raise EnvError(f"unsupported valueFrom {sorted(source)}")


def container_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, lookup: Lookup
) -> dict[str, str]:
    namespace = pod["metadata"]["namespace"]
    env = {k: os.environ[k] for k in _HOST_VARS if k in os.environ}
    env["HOSTNAME"] = pod["metadata"]["name"]
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
                raise EnvError(f"{kind} {ref['name']!r} not found")
            env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env", []) or []:
        if "valueFrom" in (var or {}) and var["valueFrom"] is not None:
            source = var["valueFrom"]
            if "fieldRef" in source:
                env[var["name"]] = _field(pod, source["fieldRef"]["fieldPath"], pod_ip)
                continue
            value = _ref_value(source, namespace, lookup)
            if value is not None:
                env[var["name"]] = value
        else:
            env[var["name"]] = expand(var.get("value") or "", env)
    return env


def command_line(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    command = list(container.get("command") or [])
    if not command:
        raise EnvError(
            "container has no command: the local node agent runs commands as host processes "
            "and cannot run an image's entrypoint"
        )
    return [expand(part, env) for part in command + list(container.get("args") or [])]


def decode_secret(data: Mapping[str, str] | None) -> dict[str, str] | None:
    if data is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in data.items()}
