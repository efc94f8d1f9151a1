"""Resident memory of the operator process, and which of the ML stack it loads.

The operator launches the Jobs that train, gate and serve models; it should not
carry scikit-learn, scipy, pandas, pyarrow or numpy itself (issue 16, item 5).
Each figure comes from a fresh interpreter that does one thing more than the
last, then reads its own resident set (VmRSS) and peak (VmHWM) from /proc:

1. the interpreter alone;
2. what ``kopf run -m autoretrain.handlers.operator`` imports: kopf and every
   module of ``autoretrain.handlers``;
3. plus an S3 client, which the operator makes for an ``s3://`` registry;
4. plus 1,000 ModelRetrains, each reconciled once by the handlers against an
   in-memory API (FakeKube) and a ``file://`` registry. FakeKube keeps every
   object, as a watch-fed cache would; it stands in for the cluster, so this
   approximates rather than measures the deployed operator;
5. plus the S3 clients of 50 more Secrets, as for teams in 50 namespaces.

For comparison it also loads what the gate Job imports. It prints the median of
``--rounds`` processes per row (RSS varies by a few hundred kB between runs).

    uv run --frozen python bench/operator_memory.py [--rounds 3]

Target (issue 16): <= 150 MB RSS with 1,000 ModelRetrains, and no ML stack.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap

TARGET_MB = 150.0
ML_STACK = ("sklearn", "skops", "pandas", "pyarrow", "scipy", "numpy")

IMPORT_THE_OPERATOR = """
import importlib, pkgutil
import kopf
import autoretrain.handlers
for module in pkgutil.iter_modules(autoretrain.handlers.__path__, "autoretrain.handlers."):
    importlib.import_module(module.name)
"""

MAKE_AN_S3_CLIENT = """
from autoretrain.store.s3client import make_s3_client
make_s3_client({"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
"""

RECONCILE_1000 = """
import tempfile
from autoretrain.analysis.provider import NullProvider
from autoretrain.api.common import API_VERSION
from autoretrain.handlers import modelretrains
from autoretrain.handlers.context import Context
from autoretrain.kube.fake import FakeKube

kube = FakeKube()
ctx = Context(kube=kube, metrics=NullProvider())
registry = tempfile.mkdtemp(prefix="operator-memory-")
container = {"name": "server", "image": "server:1"}
kube.create("Deployment", "ml", {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "server"},
    "spec": {"selector": {"matchLabels": {"app": "s"}}, "template": {
        "metadata": {"labels": {"app": "s"}}, "spec": {"containers": [container]}}}})
for index in range(1000):
    name = f"churn-{index:04d}"
    kube.create("ModelRetrain", "ml", {
        "apiVersion": API_VERSION, "kind": "ModelRetrain", "metadata": {"name": name},
        "spec": {
            "schedule": "0 2 * * *",
            "artifacts": {"uri": f"file://{registry}/{name}/"},
            "data": {"train": "file:///d/train.csv", "holdout": "file:///d/holdout.csv"},
            "training": {"template": {"spec": {"containers": [
                {"name": "train", "image": "trainer:1"}]}}},
            "gates": {"offline": {"labelColumn": "churned",
                                  "checks": [{"metric": {"metric": "roc_auc", "min": 0.7}}]}},
            "serving": {"deploymentRef": {"name": "server"}, "container": "server"},
        }})
    modelretrains.reconcile(ctx, "ml", name)
assert all(o.get("status") for o in kube.list("ModelRetrain", "ml")), "a ModelRetrain has no status"
"""

MAKE_S3_CLIENTS_FOR_50_SECRETS = """
for index in range(50):
    make_s3_client({"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": f"team-{index}",
                    "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
"""

IMPORT_THE_GATE_JOB = "import autoretrain.gates.runner\n"

REPORT = f"""
import gc, json, sys
gc.collect()
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
kib = lambda key: int(status[key].split()[0])
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({ML_STACK!r}))
print("FIGURES " + json.dumps({{"rss": kib("VmRSS"), "peak": kib("VmHWM"), "loaded": loaded}}))
"""

ROWS: list[tuple[str, str]] = [
    ("interpreter alone", ""),
    ("operator: kopf + autoretrain.handlers", IMPORT_THE_OPERATOR),
    ("  + an S3 client", IMPORT_THE_OPERATOR + MAKE_AN_S3_CLIENT),
    (
        "  + 1,000 ModelRetrains reconciled",
        IMPORT_THE_OPERATOR + MAKE_AN_S3_CLIENT + RECONCILE_1000,
    ),
    (
        "  + S3 clients for 50 more Secrets",
        IMPORT_THE_OPERATOR + MAKE_AN_S3_CLIENT + RECONCILE_1000 + MAKE_S3_CLIENTS_FOR_50_SECRETS,
    ),
    ("for comparison: the gate Job's imports", IMPORT_THE_GATE_JOB),
]


def measure(code: str) -> tuple[int, int, list[str]]:
    """RSS and peak in kiB, and the ML-stack packages loaded, of a fresh ``python -c code``."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + REPORT],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"measuring failed:\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("FIGURES "))
    figures = json.loads(line.removeprefix("FIGURES "))
    return int(figures["rss"]), int(figures["peak"]), list(figures["loaded"])


def megabytes(kib: float) -> str:
    return f"{kib / 1024:6.1f} MiB ({kib * 1024 / 1e6:6.1f} MB)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="processes per row (median)")
    args = parser.parse_args()

    print(f"{'process':40} {'RSS':>22}   {'peak':>22}   ML stack loaded")
    operator_rss_mb = 0.0
    operator_loaded: list[str] = []
    for label, code in ROWS:
        runs = [measure(code) for _ in range(args.rounds)]
        rss = statistics.median(rss for rss, _, _ in runs)
        peak = statistics.median(peak for _, peak, _ in runs)
        loaded = sorted({name for _, _, names in runs for name in names})
        print(f"{label:40} {megabytes(rss)}   {megabytes(peak)}   {', '.join(loaded) or '-'}")
        if "1,000" in label:
            operator_rss_mb, operator_loaded = rss * 1024 / 1e6, loaded
    verdict = "met" if operator_rss_mb <= TARGET_MB and not operator_loaded else "MISSED"
    print(
        f"\ntarget: operator with 1,000 ModelRetrains <= {TARGET_MB:.0f} MB RSS and no ML stack: "
        f"{operator_rss_mb:.1f} MB, {', '.join(operator_loaded) or 'none'} loaded -> {verdict}"
    )


if __name__ == "__main__":
    main()
