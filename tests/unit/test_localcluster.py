"""The launcher's pure parts and its clear failures, without starting a cluster."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client

from demo.load import routable
from localcluster import binaries, containerenv, podsources
from localcluster.launcher import Launcher, State
from localcluster.podnetwork import PodNetwork
from localcluster.supervise import ClusterError, PortInUse, wait_ready
from localcluster.volumes import VolumeError
from tests.support.recording_apiserver import recording_api


def test_missing_toolchain_names_both_ways_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTORETRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no go here
    with pytest.raises(binaries.ToolchainMissing) as error:
        binaries.ensure(("kube-apiserver",))
    assert "install Go" in str(error.value)
    assert "KUBEBUILDER_ASSETS" in str(error.value)


def test_the_build_script_without_go_names_both_ways_out(tmp_path: Path) -> None:
    result = subprocess.run(
        ["/bin/bash", str(binaries.BUILD_SCRIPT), str(tmp_path / "bin")],
        env={"PATH": "/usr/bin/nonexistent"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 3
    assert "Go toolchain" in result.stderr and "KUBEBUILDER_ASSETS" in result.stderr


def _fake_binary(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_finding_the_binaries_needs_only_the_standard_library(tmp_path: Path) -> None:
    """`make binaries` runs before the venv exists, so Go can compile while uv installs."""
    tools = Path(binaries.__file__).parents[1]
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path[:0] = [{str(tools)!r}]; import localcluster.binaries",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_kubebuilder_assets_win_over_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTORETRAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path / "assets"))
    assets = _fake_binary(tmp_path / "assets", "kube-apiserver")
    _fake_binary(binaries.cache_dir(), "kube-apiserver")
    cached = _fake_binary(binaries.cache_dir(), "kube-scheduler")
    found = binaries.ensure(("kube-apiserver", "kube-scheduler"))
    assert found == {"kube-apiserver": assets, "kube-scheduler": cached}


def test_a_stale_cluster_folder_is_not_taken_for_a_running_cluster(tmp_path: Path) -> None:
    State(server="https://127.0.0.1:1", pids={"etcd": 2**22 + 7}).save(tmp_path)
    assert not Launcher(tmp_path).healthy()


def test_pod_networks_of_two_clusters_differ() -> None:
    one, two = PodNetwork.for_cluster(Path("/a")), PodNetwork.for_cluster(Path("/b"))
    assert one.bridge != two.bridge
    assert one.address(0).endswith(".0.2") and one.address(250).endswith(".1.2")
    assert len(one.bridge) <= 15
    assert one.namespace_of(one.address(0)) != two.namespace_of(two.address(0))


POD = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
    "spec": {"nodeName": "n", "serviceAccountName": "sa"},
}


def test_env_resolves_literals_references_and_expansions() -> None:
    data = {("configmap", "cfg"): {"A": "1", "B": "2"}, ("secret", "s"): {"TOKEN": "t0k"}}

    def lookup(kind: str, namespace: str, name: str) -> dict[str, str] | None:
        assert namespace == "ns"
        return data.get((kind, name))

    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "TOKEN"}}},
            {"name": "URL", "value": "http://$(IP):80/$(APP)/$$(IP)"},
        ],
        "command": ["serve", "--host", "$(IP)"],
        "args": ["$(MISSING)"],
    }
    image_env = ["PATH=/venv/bin:/usr/bin", "APP=from-image"]
    env = containerenv.container_env(POD, container, image_env, NODE, lookup)
    assert env["CFG_A"] == "1" and env["SECRET"] == "t0k" and env["APP"] == "x"
    assert env["URL"] == "http://10.1.0.2:80/x/$(IP)"
    assert env["PATH"] == "/venv/bin:/usr/bin"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.1.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "6443"
    assert containerenv.command_line(container, ["/entry"], ["cmd"], env) == [
        "serve",
        "--host",
        "10.1.0.2",
        "$(MISSING)",
    ]


NODE = containerenv.NodeAddresses("10.1.0.2", "10.1.0.1", "10.1.0.1", 6443)


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({}, ["/entry", "cmd"]),
        ({"args": ["a"]}, ["/entry", "a"]),
        ({"command": ["run"]}, ["run"]),
        ({"command": ["run"], "args": ["a"]}, ["run", "a"]),
    ],
)
def test_command_and_args_replace_the_image_s_entrypoint_and_cmd(
    container: dict[str, list[str]], expected: list[str]
) -> None:
    assert containerenv.command_line(container, ["/entry"], ["cmd"], {}) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, 'secret "s" not found'),
        ({"other": "x"}, "couldn't find key k in Secret ns/s"),
    ],
)
def test_env_missing_reference_is_a_clear_error(data: dict[str, str] | None, message: str) -> None:
    container = {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}
    with pytest.raises(containerenv.EnvError, match=message):
        containerenv.container_env(POD, container, [], NODE, lambda *_: data)


def test_a_container_and_image_without_command_is_refused_with_the_reason() -> None:
    with pytest.raises(containerenv.EnvError, match="no command specified"):
        containerenv.command_line({"image": "scratch"}, [], [], {})


def _exits_at_once(tmp_path: Path, output: str) -> tuple[int, Path]:
    log = tmp_path / "component.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["python3", "-c", f"import sys; print({output!r}); sys.exit(1)"], stdout=sink
        )
    process.wait()
    return process.pid, log


def test_a_component_that_exits_while_starting_is_reported_at_once(tmp_path: Path) -> None:
    pid, log = _exits_at_once(tmp_path, "flag provided but not defined: -bogus")
    started = time.monotonic()
    with pytest.raises(ClusterError) as error:
        wait_ready("etcd", lambda: False, 30, log, pid)
    assert time.monotonic() - started < 5
    assert not isinstance(error.value, PortInUse)
    assert "etcd exited while starting" in str(error.value)
    assert "flag provided but not defined: -bogus" in str(error.value)


def test_a_taken_port_is_told_apart_from_other_failures(tmp_path: Path) -> None:
    pid, log = _exits_at_once(tmp_path, "listen tcp 127.0.0.1:2379: bind: address already in use")
    with pytest.raises(PortInUse, match="address already in use"):
        wait_ready("etcd", lambda: False, 30, log, pid)


def _endpoint(address: str, ready: bool | None, serving: bool, terminating: bool) -> Any:
    conditions = SimpleNamespace(ready=ready, serving=serving, terminating=terminating)
    return SimpleNamespace(addresses=[address], conditions=conditions)


def test_the_load_generator_routes_as_kube_proxy_does() -> None:
    live = _endpoint("10.0.0.2", True, True, False)
    unset = SimpleNamespace(addresses=["10.0.0.3"], conditions=None)
    draining = _endpoint("10.0.0.4", False, True, True)
    starting = _endpoint("10.0.0.5", False, False, False)
    both = SimpleNamespace(endpoints=[live, unset, draining, starting])
    assert routable([both]) == ["10.0.0.2", "10.0.0.3"]
    # With nothing ready, pods that are going but still serving take the traffic.
    assert routable([SimpleNamespace(endpoints=[draining, starting])]) == ["10.0.0.4"]
    assert routable([SimpleNamespace(endpoints=None)]) == []


def test_a_read_the_api_server_refuses_leaves_the_pod_waiting_rather_than_failed() -> None:
    # The Node authorizer refuses a node a pod's Secret or token until its graph has seen
    # the pod bound there; the kubelet retries, and so must the node agent.
    pod = {
        "metadata": {"name": "forbidden", "namespace": "ns", "uid": "u-1"},
        "spec": {"serviceAccountName": "forbidden"},
    }
    with recording_api() as (_, api):
        core = client.CoreV1Api(api)
        with pytest.raises(VolumeError, match="403"):
            podsources.request_token(core, pod, None, 3600)
        with pytest.raises(VolumeError, match="secret ns/forbidden: 403"):
            podsources.read_files(core, "secret", "ns", "forbidden")
        with pytest.raises(containerenv.EnvError, match="configmap ns/forbidden: 403"):
            podsources.read_data(core, "configmap", "ns", "forbidden")
        assert podsources.read_files(core, "secret", "ns", "missing") is None
