"""Certificates and credentials for the local control plane, made with openssl.

Clients authenticate with static bearer tokens (``--token-auth-file``), which keeps
the set-up small while the authorizers (Node, RBAC) stay fully real.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "autoretrain-node"
#: The ``kubernetes`` Service's cluster IP: the first of --service-cluster-ip-range.
KUBERNETES_SERVICE_IP = "10.96.0.1"


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...]
    token: str


@dataclass(frozen=True)
class Credentials:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path
    sa_pub: Path
    token_file: Path
    admin: Identity
    controller_manager: Identity
    scheduler: Identity
    node: Identity
    #: The node's log endpoint serves with this pair ...
    kubelet_cert: Path
    kubelet_key: Path
    #: ... and the API server calls it with this one.
    kubelet_client_cert: Path
    kubelet_client_key: Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _token() -> str:
    return secrets.token_hex(24)


def _issue(pki_dir: Path, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
    """A key pair signed by the CA; issued again when the wanted extensions change."""
    key, csr, cert = (pki_dir / f"{name}.{suffix}" for suffix in ("key", "csr", "crt"))
    ext = pki_dir / f"{name}.ext"
    if cert.exists() and ext.exists() and ext.read_text() == extensions:
        return cert, key
    ext.write_text(extensions)
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(pki_dir / "ca.crt"),
        "-CAkey",
        str(pki_dir / "ca.key"),
        "-CAcreateserial",
        "-days",
        "3650",
        "-extfile",
        str(ext),
        "-out",
        str(cert),
    )
    key.chmod(0o600)
    return cert, key


def create(pki_dir: Path, node_address: str) -> Credentials:
    """Creates (or reuses) the CA, the serving pairs, the service-account keys and tokens.

    ``node_address`` is the node's address on the pod network, where pods reach
    the API server and the API server reaches the node's log endpoint.
    """
    pki_dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = pki_dir / "ca.key", pki_dir / "ca.crt"
    sa_key, sa_pub = pki_dir / "sa.key", pki_dir / "sa.pub"
    if not ca_cert.exists():
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=autoretrain-local-ca",
            "-keyout",
            str(ca_key),
            "-out",
            str(ca_cert),
        )
    addresses = f"IP:127.0.0.1,IP:{node_address},IP:{KUBERNETES_SERVICE_IP}"
    cert, key = _issue(
        pki_dir,
        "apiserver",
        "/CN=kube-apiserver",
        f"subjectAltName={addresses},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n"
        "extendedKeyUsage=serverAuth\n",
    )
    kubelet_cert, kubelet_key = _issue(
        pki_dir,
        "kubelet",
        f"/O=system:nodes/CN=system:node:{NODE_NAME}",
        f"subjectAltName=IP:127.0.0.1,IP:{node_address},DNS:{NODE_NAME}\n"
        "extendedKeyUsage=serverAuth\n",
    )
    client_cert, client_key = _issue(
        pki_dir,
        "apiserver-kubelet-client",
        "/O=system:masters/CN=kube-apiserver-kubelet-client",
        "extendedKeyUsage=clientAuth\n",
    )
    if not sa_key.exists():
        _openssl("genrsa", "-out", str(sa_key), "2048")
        _openssl("rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub))
    token_file = pki_dir / "tokens.csv"
    identities = _load_tokens(token_file) or {
        "admin": Identity("autoretrain-admin", ("system:masters",), _token()),
        "controller_manager": Identity("system:kube-controller-manager", (), _token()),
        "scheduler": Identity("system:kube-scheduler", (), _token()),
        "node": Identity(f"system:node:{NODE_NAME}", ("system:nodes",), _token()),
    }
    _write_tokens(token_file, identities)
    return Credentials(
        ca_cert,
        cert,
        key,
        sa_key,
        sa_pub,
        token_file,
        kubelet_cert=kubelet_cert,
        kubelet_key=kubelet_key,
        kubelet_client_cert=client_cert,
        kubelet_client_key=client_key,
        **identities,
    )


def _write_tokens(path: Path, identities: dict[str, Identity]) -> None:
    lines = []
    for role, ident in identities.items():
        groups = ",".join(ident.groups)
        lines.append(f'{ident.token},{ident.user},{role},"{groups}"')
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def _load_tokens(path: Path) -> dict[str, Identity] | None:
    if not path.exists():
        return None
    identities: dict[str, Identity] = {}
    for line in path.read_text().splitlines():
        token, user, role, groups = line.split(",", 3)
        group_list = tuple(g for g in groups.strip('"').split(",") if g)
        identities[role] = Identity(user, group_list, token)
    return identities


def kubeconfig(server: str, ca_cert: Path, ident: Identity, name: str) -> str:
    """A kubeconfig document for one identity (YAML is a superset of JSON)."""
    import json

    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": name, "cluster": {"server": server, "certificate-authority": str(ca_cert)}}
            ],
            "users": [{"name": ident.user, "user": {"token": ident.token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": ident.user}}],
            "current-context": name,
        },
        indent=2,
    )
