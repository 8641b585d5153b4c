"""A kubeconfig the CLI cannot use is one line that names the file and what to do about it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from modelplane.cli import apiclient


def kubeconfig(cluster: str = "", user: str = "{token: t}", context: str = "") -> str:
    return f"""\
apiVersion: v1
kind: Config
clusters: [{{name: m, cluster: {cluster or '{server: "https://127.0.0.1:6443"}'}}}]
users: [{{name: m, user: {user}}}]
contexts: [{{name: m, context: {context or "{cluster: m, user: m}"}}}]
current-context: m
"""


REWRITE = "restart `modelplane up` to write it again, or pass --kubeconfig"
NOT_PEM = base64.b64encode(b"not a certificate").decode()

CASES = {
    "not YAML": ("kind: [\n", "is not valid YAML (line 2, column 1): " + REWRITE),
    "a scalar": ("just words\n", "is malformed (not a mapping of clusters, users and contexts)"),
    "empty": ("{}\n", "is malformed (it names no current context)"),
    "an undefined cluster": (
        kubeconfig(context="{cluster: other, user: m}"),
        "is malformed (it names cluster 'other' but does not define it)",
    ),
    "no server": (kubeconfig(cluster="{}"), "is malformed (cluster 'm' has no https:// server)"),
    "a context that is a string": (
        kubeconfig(context="text"),
        "is malformed (context 'm' is not a mapping)",
    ),
    "a CA that is not base64": (
        kubeconfig(cluster='{server: "https://h:1", certificate-authority-data: "%%%"}'),
        "is malformed (certificate-authority-data is not base64 PEM)",
    ),
    "a CA that is not a certificate": (
        kubeconfig(cluster=f'{{server: "https://h:1", certificate-authority-data: "{NOT_PEM}"}}'),
        "is malformed (its certificate authority is not a PEM certificate)",
    ),
}


@pytest.mark.parametrize(("text", "message"), list(CASES.values()), ids=list(CASES))
def test_a_malformed_kubeconfig_is_named_with_the_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(apiclient.ClientError) as caught:
        apiclient.load_config(path)
    error = str(caught.value)
    assert error.startswith(f"the kubeconfig {path} ")
    assert message in error and error.endswith(REWRITE)
    assert "\n" not in error


def test_a_missing_kubeconfig_says_to_run_up(tmp_path: Path) -> None:
    with pytest.raises(apiclient.ClientError) as caught:
        apiclient.load_config(tmp_path / "kubeconfig")
    assert str(caught.value) == (
        f"no kubeconfig at {tmp_path / 'kubeconfig'}: start the control plane with "
        "`modelplane up` (it writes one there), or pass --kubeconfig"
    )


def test_an_unreadable_kubeconfig_says_why(tmp_path: Path) -> None:
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(apiclient.ClientError, match=r"kubeconfig .*binary \(not text\): restart"):
        apiclient.load_config(binary)
    with pytest.raises(apiclient.ClientError, match=r"\(Is a directory\): restart `modelplane up`"):
        apiclient.load_config(tmp_path)


def test_a_file_the_kubeconfig_names_is_named_with_the_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig(user="{tokenFile: /nonexistent/token}"))
    with pytest.raises(apiclient.ClientError) as caught:
        apiclient.load_config(path)
    assert str(caught.value) == (
        f"cannot read the token file /nonexistent/token, named in the kubeconfig {path}, "
        f"(no such file): {REWRITE}"
    )
