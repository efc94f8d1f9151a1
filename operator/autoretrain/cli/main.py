"""``autoretrain``: run the operator, check that the API is served, or gate on a laptop.

autoretrain operator [kopf run options]   watch every namespace and reconcile
autoretrain check-api                     exit 0 when both kinds are served
autoretrain gate --policy F --candidate DIR [--champion DIR] --holdout FILE
                                          the offline gate on local files (see --help)
"""

from __future__ import annotations

import sys


def _operator(args: list[str]) -> int:
    import kopf.cli

    argv = ["run", "--standalone", "--all-namespaces", "-m", "autoretrain.handlers.operator", *args]
    kopf.cli.main.main(args=argv, prog_name="autoretrain operator", standalone_mode=False)
    return 0


def _check_api() -> int:
    from kubernetes import client, config

    from autoretrain.api.common import GROUP, VERSION

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    custom = client.CustomObjectsApi()
    for plural in ("modelretrains", "modelretrainruns"):
        custom.list_cluster_custom_object(GROUP, VERSION, plural, limit=1)
        print(f"{plural}.{GROUP}/{VERSION} is served")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "operator":
        return _operator(args[1:])
    if args and args[0] == "check-api":
        return _check_api()
    if args and args[0] == "gate":
        from autoretrain.cli import gate

        return gate.main(args[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
