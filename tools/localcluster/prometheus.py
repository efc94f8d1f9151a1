"""A real Prometheus (the Debian package) scraping the pods the API server knows.

Debian builds Prometheus without Kubernetes service discovery, so pods reach
it as ``file_sd`` targets that ``podtargets`` keeps in line with the API
server. Scrapes run every second, so canary analysis sees fresh data at once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

SCRAPE_INTERVAL = "1s"


class PrometheusMissing(RuntimeError):
    pass


def binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusMissing(
            "prometheus is not installed: `apt-get install prometheus` (Debian package) "
            "provides it; .ci/run installs it on CI"
        )
    return found


def config(targets: Path) -> str:
    """The scrape configuration (JSON is valid YAML)."""
    return json.dumps(
        {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "scrape_configs": [
                {
                    "job_name": "pods",
                    "scrape_interval": SCRAPE_INTERVAL,
                    "scrape_timeout": SCRAPE_INTERVAL,
                    "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "5s"}],
                }
            ],
        },
        indent=2,
    )


def targets_file(folder: Path) -> Path:
    return folder / "pod-targets.json"


def argv(folder: Path, host: str, port: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "prometheus.yml"
    config_path.write_text(config(targets_file(folder)))
    return [
        binary(),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={folder / 'data'}",
        # The node's pod-network address: the operator's pod queries it from there.
        f"--web.listen-address={host}:{port}",
        "--storage.tsdb.retention.time=2h",
        "--log.level=warn",
    ]
