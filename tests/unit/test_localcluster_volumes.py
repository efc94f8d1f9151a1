"""Pod volumes on the node: contents, modes, read-only mounts, and waiting for a missing source."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from localcluster.kubeletapi import tail
from localcluster.volumes import PodVolumes, VolumeError


class Sources:
    def __init__(self, objects: dict[tuple[str, str], dict[str, bytes]]) -> None:
        self.objects = objects
        self.tokens: list[tuple[str | None, int]] = []

    def files(self, kind: str, namespace: str, name: str) -> Mapping[str, bytes] | None:
        assert namespace == "ns"
        return self.objects.get((kind, name))

    def token(self, pod: Mapping[str, Any], audience: str | None, expiration_seconds: int) -> str:
        self.tokens.append((audience, expiration_seconds))
        return "a-bound-token"


def _pod(volumes: list[dict[str, Any]], fs_group: int | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
        "spec": {
            "volumes": volumes,
            "containers": [],
            "securityContext": {"fsGroup": fs_group} if fs_group is not None else {},
        },
    }


def test_secret_config_map_projected_and_empty_dir_volumes(tmp_path: Path) -> None:
    sources = Sources(
        {
            ("secret", "creds"): {"KEY": b"s3cr3t", "ID": b"id"},
            ("configmap", "kube-root-ca.crt"): {"ca.crt": b"CA"},
        }
    )
    pod = _pod(
        [
            {"name": "scratch", "emptyDir": {}},
            {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}},
            {
                "name": "api",
                "projected": {
                    "defaultMode": 0o644,
                    "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {"fieldPath": "metadata.namespace"},
                                    }
                                ]
                            }
                        },
                    ],
                },
            },
        ]
    )
    volumes = PodVolumes(pod, tmp_path, "10.1.0.2", "10.1.0.1")
    volumes.prepare(sources)
    assert (volumes.paths["scratch"].stat().st_mode & 0o777) == 0o777
    key = volumes.paths["creds"] / "KEY"
    assert key.read_bytes() == b"s3cr3t" and (key.stat().st_mode & 0o777) == 0o400
    api = volumes.paths["api"]
    assert (api / "token").read_text() == "a-bound-token"
    assert (api / "ca.crt").read_text() == "CA" and (api / "namespace").read_text() == "ns"
    assert sources.tokens == [(None, 3607)]

    container = {
        "volumeMounts": [
            {"name": "scratch", "mountPath": "/tmp"},
            {"name": "creds", "mountPath": "/creds"},
            {"name": "api", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"},
        ]
    }
    mounts = {m.destination: m.read_only for m in volumes.mounts(container)}
    # Secret and projected volumes are always read-only, as the kubelet mounts them.
    assert mounts == {
        "/tmp": False,
        "/creds": True,
        "/var/run/secrets/kubernetes.io/serviceaccount": True,
    }


def test_a_missing_secret_waits_and_an_optional_one_does_not(tmp_path: Path) -> None:
    sources = Sources({})
    waiting = PodVolumes(
        _pod([{"name": "s", "secret": {"secretName": "absent"}}]), tmp_path, "", ""
    )
    with pytest.raises(VolumeError, match='secret "absent" not found'):
        waiting.prepare(sources)
    optional = PodVolumes(
        _pod([{"name": "s", "secret": {"secretName": "absent", "optional": True}}]),
        tmp_path / "other",
        "",
        "",
    )
    optional.prepare(sources)
    assert list(optional.paths["s"].iterdir()) == []


def test_a_missing_item_key_and_an_escaping_path_are_refused(tmp_path: Path) -> None:
    sources = Sources({("secret", "s"): {"a": b"1"}})
    item = {"name": "s", "secret": {"secretName": "s", "items": [{"key": "b", "path": "b"}]}}
    with pytest.raises(VolumeError, match="has no key b"):
        PodVolumes(_pod([item]), tmp_path, "", "").prepare(sources)
    escape = {"name": "s", "secret": {"secretName": "s", "items": [{"key": "a", "path": "../x"}]}}
    with pytest.raises(VolumeError, match="invalid path"):
        PodVolumes(_pod([escape]), tmp_path / "2", "", "").prepare(sources)


def test_an_unsupported_volume_type_is_named(tmp_path: Path) -> None:
    pod = _pod([{"name": "disk", "persistentVolumeClaim": {"claimName": "data"}}])
    with pytest.raises(VolumeError, match="persistentVolumeClaim"):
        PodVolumes(pod, tmp_path, "", "").prepare(Sources({}))


def test_a_mount_of_an_unknown_volume_is_refused(tmp_path: Path) -> None:
    volumes = PodVolumes(_pod([]), tmp_path, "", "")
    volumes.prepare(Sources({}))
    with pytest.raises(VolumeError, match="names no volume"):
        volumes.mounts({"volumeMounts": [{"name": "ghost", "mountPath": "/x"}]})


@pytest.mark.parametrize(
    ("data", "lines", "expected"),
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 1, b"c"),
        (b"a\n", 5, b"a\n"),
        (b"a\n", 0, b""),
    ],
)
def test_tail_lines_as_kubectl_logs_asks_for_them(data: bytes, lines: int, expected: bytes) -> None:
    assert tail(data, lines) == expected
