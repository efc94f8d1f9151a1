"""The node's runtime spec: users, runAsNonRoot, capabilities and limits, as a kubelet sets them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from localcluster import ocispec
from localcluster.ocispec import ContainerConfigError, Mount, User


def _pod(security: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        "spec": {"securityContext": security or {}, "containers": []},
    }


def _rootfs(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nstaff:x:50:\n")
    return tmp_path


@pytest.mark.parametrize(
    ("pod_security", "container_security", "image_user", "expected"),
    [
        ({}, {}, "", User(0, 0)),
        ({}, {}, "65532:65532", User(65532, 65532)),
        ({}, {}, "app", User(1000, 1001)),
        ({}, {}, "app:staff", User(1000, 50)),
        ({"runAsUser": 7}, {}, "65532", User(7, 0)),
        ({"runAsUser": 7, "runAsGroup": 8}, {"runAsUser": 9}, "", User(9, 8)),
        ({"runAsNonRoot": True}, {}, "65532", User(65532, 0)),
        ({"supplementalGroups": [5], "fsGroup": 6}, {}, "1:2", User(1, 2, (5, 6))),
    ],
)
def test_the_user_comes_from_the_security_context_then_the_image(
    tmp_path: Path,
    pod_security: dict[str, Any],
    container_security: dict[str, Any],
    image_user: str,
    expected: User,
) -> None:
    container = {"name": "c", "securityContext": container_security}
    found = ocispec.resolve_user(_pod(pod_security), container, image_user, _rootfs(tmp_path))
    assert found == expected


@pytest.mark.parametrize(
    ("security", "image_user", "message"),
    [
        ({"runAsNonRoot": True}, "", "image will run as root"),
        ({"runAsNonRoot": True}, "0:0", "image will run as root"),
        ({"runAsNonRoot": True}, "app", "image has non-numeric user (app)"),
        ({"runAsNonRoot": True, "runAsUser": 0}, "65532", "runAsUser breaks non-root policy"),
    ],
)
def test_run_as_non_root_refuses_root_with_the_kubelet_s_reason(
    tmp_path: Path, security: dict[str, Any], image_user: str, message: str
) -> None:
    container = {"name": "c", "securityContext": security}
    with pytest.raises(ContainerConfigError, match=re.escape(message)) as error:
        ocispec.resolve_user(_pod(), container, image_user, _rootfs(tmp_path))
    assert '(pod: "p_ns(u1)", container: c)' in str(error.value)


def test_a_user_name_the_image_does_not_know_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ContainerConfigError, match="unable to find user nobody"):
        ocispec.resolve_user(_pod(), {"name": "c"}, "nobody", _rootfs(tmp_path))


@pytest.mark.parametrize(
    ("capabilities", "expected_in", "expected_out"),
    [
        ({}, {"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}, {"CAP_SYS_ADMIN"}),
        ({"drop": ["ALL"]}, set(), {"CAP_CHOWN", "CAP_KILL"}),
        ({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}, {"CAP_NET_BIND_SERVICE"}, {"CAP_KILL"}),
        ({"drop": ["CHOWN"], "add": ["SYS_ADMIN"]}, {"CAP_SYS_ADMIN"}, {"CAP_CHOWN"}),
    ],
)
def test_capabilities_start_from_the_runtime_default_then_drop_and_add(
    capabilities: dict[str, list[str]], expected_in: set[str], expected_out: set[str]
) -> None:
    found = set(ocispec.capabilities({"securityContext": {"capabilities": capabilities}}))
    assert expected_in <= found
    assert not expected_out & found


@pytest.mark.parametrize(
    ("text", "value"),
    [("256Mi", 256 * 2**20), ("1Gi", 2**30), ("500M", 5e8), ("100m", 0.1), ("2", 2), (3, 3)],
)
def test_quantities_parse_as_kubernetes_writes_them(text: str | int, value: float) -> None:
    assert ocispec.parse_quantity(text) == pytest.approx(value)


def test_a_malformed_quantity_is_a_config_error() -> None:
    with pytest.raises(ContainerConfigError, match="invalid quantity"):
        ocispec.parse_quantity("lots")


def test_the_runtime_spec_enforces_what_the_container_asks_for() -> None:
    container = {
        "name": "c",
        "securityContext": {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "250m"}},
    }
    spec = ocispec.runtime_spec(
        _pod(),
        container,
        args=["python", "-V"],
        env={"A": "1"},
        cwd="/work",
        user=User(65532, 65532, (7,)),
        mounts=[Mount("/data", Path("/node/pod/volumes/data"), read_only=True)],
        netns="/run/netns/pod",
        cgroups_path="/autoretrain/x/u1/c-0",
    )
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    process = spec["process"]
    assert process["user"] == {"uid": 65532, "gid": 65532, "additionalGids": [7]}
    assert process["noNewPrivileges"] is True
    assert process["capabilities"]["bounding"] == []
    assert process["env"] == ["A=1"] and process["cwd"] == "/work"
    resources = spec["linux"]["resources"]
    assert resources["memory"] == {"limit": 64 * 2**20, "swap": 64 * 2**20}
    assert resources["cpu"] == {"quota": 50_000, "period": 100_000, "shares": 256}
    assert {"type": "network", "path": "/run/netns/pod"} in spec["linux"]["namespaces"]
    data = next(m for m in spec["mounts"] if m["destination"] == "/data")
    assert "ro" in data["options"] and data["source"] == "/node/pod/volumes/data"
    assert spec["hostname"] == "p"
