"""README's "Install on your cluster", run as written: every bash block, in order.

Between the blocks the test plays the part the README leaves to the user: the
bucket and its data, a first champion, and the Deployment that serves it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from autoretrain.store.objects import open_store
from demo.platform import Platform
from demo.world import World
from localcluster import binaries
from localcluster.cluster import eventually

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"
NAMESPACE = "ml"


def install_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Install on your cluster", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_has_the_blocks_this_test_expects() -> None:
    blocks = install_blocks()
    assert [("helm upgrade" in b, "create secret" in b, "apply -f" in b) for b in blocks] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]


def _run(block: str, platform: Platform) -> str:
    tools = binaries.ensure(("kubectl", "helm"))
    env = {
        "PATH": os.pathsep.join(
            [str(tools["kubectl"].parent), str(tools["helm"].parent), os.environ["PATH"]]
        ),
        "HOME": os.environ.get("HOME", "/root"),
        "KUBECONFIG": str(platform.cluster.kubeconfig),
        "PROMETHEUS_URL": platform.prometheus,
        "S3_ENDPOINT": platform.s3_endpoint,
        "AWS_ACCESS_KEY_ID": platform.s3_credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": platform.s3_credentials.secret_access_key,
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=README.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, f"{block}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_install_on_your_cluster_as_the_readme_says(platform: Platform, tmp_path: Path) -> None:
    platform.cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", timeout=120)
    helm, secret, loop = install_blocks()
    try:
        _run(helm, platform)
        platform.wait_operator()
        _run(secret, platform)
        team = World(platform, NAMESPACE, tmp_path, bucket="ml-team")
        team.create_bucket()
        bucket = open_store(f"s3://{team.bucket}/", team.s3_env)
        for key in bucket.list():  # what an earlier run of this test left
            bucket.delete(key)
        team.serve(team.bootstrap_champion())
        runs = _run(loop, platform)
        assert "Succeeded" in runs
        champion = team.registry().champion()
        assert champion is not None and champion.version != "v0"
        assert team.served_version() == champion.version
    finally:
        platform.cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
    eventually(
        lambda: platform.operator_pods(), what="the operator still installed for the next tests"
    )
