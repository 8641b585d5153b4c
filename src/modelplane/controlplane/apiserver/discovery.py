"""Discovery: /version, /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version>.

kubectl maps `isvc` to a URL from these documents (and caches them). It first asks for the
aggregated form (`as=APIGroupDiscoveryList`); a plain `application/json` answer tells it to fall
back to the per-group documents, which is what is served here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from modelplane.resources import catalog

Obj = dict[str, Any]
KUBERNETES_VERSION = ("1", "37")
WRITE_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
READ_VERBS = ["get", "list", "watch"]


def version() -> Obj:
    major, minor = KUBERNETES_VERSION
    return {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.0+modelplane",
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "", "goVersion": "",
            "compiler": "", "platform": "python"}


def api_versions(address: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def _groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for kind in catalog.KINDS:
        versions = groups.setdefault(kind.group, [])
        if kind.version not in versions:
            versions.append(kind.version)
    return groups


def _group(name: str, versions: list[str]) -> Obj:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def group_list() -> Obj:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(name, versions) for name, versions in _groups().items()]}


def group(name: str) -> Obj | None:
    versions = _groups().get(name)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource(kind: catalog.Kind) -> list[Obj]:
    verbs = WRITE_VERBS if kind.user_writable else READ_VERBS
    main: Obj = {
        "name": kind.plural, "singularName": kind.singular, "namespaced": kind.namespaced,
        "kind": kind.kind, "verbs": verbs,
        "storageVersionHash": hashlib.sha256(kind.api_version.encode()).hexdigest()[:12],
    }
    if kind.short_names:
        main["shortNames"] = list(kind.short_names)
    resources = [main]
    if kind.has_status:
        resources.append({
            "name": f"{kind.plural}/status", "singularName": "", "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": ["get", "patch", "update"] if kind.user_writable else ["get"],
        })
    return resources


def resource_list(group_version: str, resources: Iterable[Obj]) -> Obj:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": list(resources)}


def group_version(group_name: str, version_name: str) -> Obj | None:
    kinds = [k for k in catalog.KINDS if (k.group, k.version) == (group_name, version_name)]
    if not kinds:
        return None
    return resource_list(f"{group_name}/{version_name}",
                         [r for kind in kinds for r in _resource(kind)])


def core_v1(*, pods: bool) -> Obj:
    resources: list[Obj] = [
        {"name": "namespaces", "singularName": "namespace", "namespaced": False,
         "kind": "Namespace", "verbs": ["get", "list"], "shortNames": ["ns"]},
        {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event",
         "verbs": ["list"], "shortNames": ["ev"]},
    ]
    if pods:
        resources += [
            {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
             "verbs": ["get", "list"], "shortNames": ["po"], "categories": ["all"]},
            {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
             "verbs": ["get"]},
        ]
    return resource_list("v1", resources)
