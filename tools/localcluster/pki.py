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


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _token() -> str:
    return secrets.token_hex(24)


def create(pki_dir: Path) -> Credentials:
    """Creates (or reuses) the CA, the serving pair, the service-account keys and tokens."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = pki_dir / "ca.key", pki_dir / "ca.crt"
    key, csr, cert = pki_dir / "apiserver.key", pki_dir / "apiserver.csr", pki_dir / "apiserver.crt"
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
    if not cert.exists():
        ext = pki_dir / "san.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n")
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=kube-apiserver",
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
            str(ca_cert),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            str(ext),
            "-out",
            str(cert),
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
    return Credentials(ca_cert, cert, key, sa_key, sa_pub, token_file, **identities)


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
