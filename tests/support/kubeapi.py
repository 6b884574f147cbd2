"""A small in-memory Kubernetes API server on loopback, for what Helm's SDK asks of a cluster.

No cluster runs here, so the kubernetes provisioning backend is tested against this: the real
Helm SDK (client-go inside it) talks HTTP to generated answers — discovery for the kinds our
charts use, CRUD of objects (create, get, list with label selectors, server-side apply and merge
patches, delete) and list+watch for Helm's readiness wait. Created Deployments report their
replicas ready at once unless ``stall_rollouts``; what was asked is kept in ``requests``.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

VERSION = {"major": "1", "minor": "35", "gitVersion": "v1.35.0", "platform": "linux/amd64"}

# group/version -> [(resource, kind, namespaced)]
RESOURCES: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [("namespaces", "Namespace", False), ("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
           ("services", "Service", True), ("serviceaccounts", "ServiceAccount", True), ("pods", "Pod", True),
           ("events", "Event", True)],
    "apps/v1": [("deployments", "Deployment", True), ("replicasets", "ReplicaSet", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "networking.k8s.io/v1": [("ingresses", "Ingress", True)],
    "rbac.authorization.k8s.io/v1": [("clusterroles", "ClusterRole", False),
                                     ("clusterrolebindings", "ClusterRoleBinding", False)],
}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    body: Any


@dataclass
class FakeKube:
    url: str = ""
    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    stall_rollouts: bool = False
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def kinds(self, namespace: str | None = None) -> list[tuple[str, str]]:
        """(kind, name) of every stored object (in ``namespace``), Helm's release records excluded."""
        return sorted((o["kind"], o["metadata"]["name"]) for (gv, ns, res, _), o in self.objects.items()
                      if (namespace is None or ns == namespace)
                      and o["metadata"].get("labels", {}).get("owner") != "helm")

    def releases(self, namespace: str) -> list[dict[str, Any]]:
        return [o for (gv, ns, res, _), o in self.objects.items()
                if ns == namespace and res == "secrets" and o["metadata"].get("labels", {}).get("owner") == "helm"]

    def get(self, gv: str, namespace: str, resource: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((gv, namespace, resource, name))

    # --- what the handler calls -------------------------------------------------------

    def stamp(self, obj: dict[str, Any], gv: str, kind: str, namespace: str) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._versions)}")
        meta["resourceVersion"] = str(next(self._versions))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta["generation"] = int(meta.get("generation", 0)) + 1
        if namespace:
            meta["namespace"] = namespace
        obj["apiVersion"], obj["kind"] = gv, kind
        if kind == "Deployment":
            replicas = obj.get("spec", {}).get("replicas", 1)
            ready = 0 if self.stall_rollouts else replicas
            obj["status"] = {"observedGeneration": meta["generation"], "replicas": replicas,
                             "updatedReplicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
                             "conditions": [
                                 {"type": "Available", "status": "True" if ready else "False", "reason": "x"},
                                 {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
        if kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        if kind == "Service":
            obj.setdefault("spec", {}).setdefault("clusterIP", "10.0.0.10")
        if kind == "PodDisruptionBudget":
            obj["status"] = {"observedGeneration": meta["generation"], "currentHealthy": 1, "desiredHealthy": 1,
                             "disruptionsAllowed": 1, "expectedPods": 1}
        return obj


def _kind_of(gv: str, resource: str) -> tuple[str, bool] | None:
    for res, kind, namespaced in RESOURCES.get(gv, []):
        if res == resource:
            return kind, namespaced
    return None


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints as ints, length-delimited as bytes."""
    i = 0

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, varint()
        elif wire == 2:
            size = varint()
            yield number, data[i:i + size]
            i += size
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"protobuf wire type {wire}")


def _entries(items: list[bytes], *, binary: bool = False) -> dict[str, str]:
    out = {}
    for item in items:
        parts = dict(_fields(item))
        value = parts.get(2, b"")
        assert isinstance(value, bytes)
        key = parts[1]
        assert isinstance(key, bytes)
        out[key.decode()] = base64.b64encode(value).decode() if binary else value.decode()
    return out


def _secret_from_protobuf(body: bytes) -> dict[str, Any]:
    """A Secret or ConfigMap sent as Kubernetes protobuf (how clientsets write Helm's release
    records), as its JSON form: name, namespace, labels, data (base64 for a Secret), type."""
    assert body[:4] == b"k8s\x00", "not a Kubernetes protobuf envelope"
    envelope = dict(_fields(body[4:]))
    raw = envelope[2]
    assert isinstance(raw, bytes)
    meta: dict[str, Any] = {}
    data: list[bytes] = []
    kind_type = ""
    for number, value in _fields(raw):
        assert isinstance(value, bytes)
        if number == 1:
            labels: list[bytes] = []
            for mnum, mval in _fields(value):
                if mnum in (1, 3) and isinstance(mval, bytes):
                    meta["name" if mnum == 1 else "namespace"] = mval.decode()
                elif mnum == 11 and isinstance(mval, bytes):
                    labels.append(mval)
            meta["labels"] = _entries(labels)
        elif number == 2:
            data.append(value)
        elif number == 3:
            kind_type = value.decode()
    return {"metadata": meta, "data": _entries(data, binary=True), "type": kind_type}


def _gv_path(gv: str) -> str:
    return f"api/{gv}" if gv == "v1" else f"apis/{gv}"


def _openapi_v3(path: str) -> dict[str, Any]:
    """Just enough OpenAPI v3 for client-go to see that PATCH takes ``fieldValidation`` (so it
    leaves validation to the server, as real API servers since 1.27 do) — no schemas."""
    gv = next(g for g in RESOURCES if _gv_path(g) == path)
    group, _, version = gv.rpartition("/")
    param = {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
    paths = {}
    for resource, kind, namespaced in RESOURCES[gv]:
        route = f"/{path}/namespaces/{{namespace}}/{resource}/{{name}}" if namespaced else f"/{path}/{resource}/{{name}}"
        paths[route] = {"patch": {"parameters": [param], "responses": {},
                                  "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value.lstrip("="):
                return False
        elif labels.get(term) is None:
            return False
    return True


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _handler(kube: FakeKube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, code: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _status(self, code: int, reason: str, message: str = "") -> None:
            self._reply(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "reason": reason, "message": message or reason, "code": code})

        def _watch(self, items: list[dict[str, Any]], bookmark: dict[str, Any] | None) -> None:
            # An open stream: the current objects as ADDED (then, for a watch-list, the bookmark
            # that ends the initial events), then silence until the client leaves.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                events = [{"type": "ADDED", "object": item} for item in items]
                if bookmark is not None:
                    events.append({"type": "BOOKMARK", "object": bookmark})
                for event in events:
                    chunk = json.dumps(event).encode() + b"\n"
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
                time.sleep(5)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type")
            body: Any = None
            if raw:
                if ctype and "protobuf" in ctype:
                    body = _secret_from_protobuf(raw)
                else:
                    body = yaml.safe_load(raw) if ctype and "yaml" in ctype else json.loads(raw)
            with kube.lock:
                kube.requests.append(Request(self.command, parts.path, query, ctype, body))
            segs = [s for s in parts.path.split("/") if s]
            if segs == ["version"]:
                return self._reply(200, VERSION)
            if segs == ["openapi", "v3"]:
                return self._reply(200, {"paths": {_gv_path(gv): {"serverRelativeURL": f"/openapi/v3/{_gv_path(gv)}?hash=1"}
                                                   for gv in RESOURCES}})
            if segs[:2] == ["openapi", "v3"]:
                return self._reply(200, _openapi_v3("/".join(segs[2:])))
            if segs == ["api"]:
                return self._reply(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
            if segs == ["apis"]:
                groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                           "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                          for gv in RESOURCES if "/" in gv]
                return self._reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            if segs and segs[0] == "api":
                gv, rest = "v1", segs[2:]
            elif segs and segs[0] == "apis" and len(segs) >= 3:
                gv, rest = f"{segs[1]}/{segs[2]}", segs[3:]
            else:
                return self._status(404, "NotFound", parts.path)
            if gv not in RESOURCES:
                return self._status(404, "NotFound", gv)
            if not rest:
                return self._reply(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                                         "resources": [{"name": r, "singularName": "", "namespaced": ns, "kind": k,
                                                        "verbs": VERBS} for r, k, ns in RESOURCES[gv]]})
            namespace = ""
            if rest[0] == "namespaces" and len(rest) >= 3:
                namespace, rest = rest[1], rest[2:]
            resource, name = rest[0], rest[1] if len(rest) > 1 else None
            if len(rest) > 2:  # a subresource (status, scale): answer with the object
                rest = rest[:2]
            found = _kind_of(gv, resource)
            if found is None:
                return self._status(404, "NotFound", resource)
            kind, _ = found
            key = (gv, namespace, resource, name or "")
            with kube.lock:
                if self.command == "GET" and name is None:
                    selector = query.get("labelSelector", [""])[0]
                    items = [o for (g, ns, r, _), o in kube.objects.items()
                             if g == gv and r == resource and (not namespace or ns == namespace)
                             and _selector_matches(selector, o["metadata"].get("labels", {}) or {})]
                    if query.get("watch", ["false"])[0] in ("true", "1"):
                        watch_items = json.loads(json.dumps(items))
                        bookmark = None
                        if query.get("sendInitialEvents", ["false"])[0] == "true":
                            bookmark = {"kind": kind, "apiVersion": gv, "metadata": {
                                "resourceVersion": str(next(kube._versions)),
                                "annotations": {"k8s.io/initial-events-end": "true"}}}
                    else:
                        return self._reply(200, {"kind": f"{kind}List", "apiVersion": gv,
                                                 "metadata": {"resourceVersion": str(next(kube._versions))},
                                                 "items": items})
                elif self.command == "GET":
                    obj = kube.objects.get(key)
                    if obj is None:
                        return self._status(404, "NotFound", f'{resource} "{name}" not found')
                    return self._reply(200, obj)
                elif self.command == "POST":
                    name = body["metadata"]["name"]
                    key = (gv, namespace, resource, name)
                    if key in kube.objects:
                        return self._status(409, "AlreadyExists", f'{resource} "{name}" already exists')
                    if query.get("dryRun"):
                        return self._reply(201, kube.stamp(json.loads(json.dumps(body)), gv, kind, namespace))
                    kube.objects[key] = kube.stamp(body, gv, kind, namespace)
                    return self._reply(201, kube.objects[key])
                elif self.command == "PUT":
                    if key not in kube.objects:
                        return self._status(404, "NotFound", f'{resource} "{name}" not found')
                    kube.objects[key] = kube.stamp(body, gv, kind, namespace)
                    return self._reply(200, kube.objects[key])
                elif self.command == "PATCH":
                    current = kube.objects.get(key)
                    if ctype and "apply-patch" in ctype:
                        obj = _merge(json.loads(json.dumps(current)) if current else {}, body)
                        obj["metadata"]["name"] = name
                    elif current is None:
                        return self._status(404, "NotFound", f'{resource} "{name}" not found')
                    else:
                        obj = _merge(json.loads(json.dumps(current)), body)
                    if query.get("dryRun"):
                        return self._reply(200, kube.stamp(obj, gv, kind, namespace))
                    kube.objects[key] = kube.stamp(obj, gv, kind, namespace)
                    return self._reply(201 if current is None else 200, kube.objects[key])
                elif self.command == "DELETE":
                    obj = kube.objects.pop(key, None)
                    if obj is None:
                        return self._status(404, "NotFound", f'{resource} "{name}" not found')
                    if kind == "Namespace":
                        for other in [k for k in kube.objects if k[1] == name]:
                            del kube.objects[other]
                    return self._reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                                             "details": {"name": name, "kind": resource}})
                else:
                    return self._status(405, "MethodNotAllowed")
            self._watch(watch_items, bookmark)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


@contextmanager
def running() -> Iterator[FakeKube]:
    """A fake API server on 127.0.0.1; ``.url`` is what to give as the API server address."""
    kube = FakeKube()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(kube))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-kube", daemon=True)
    thread.start()
    kube.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield kube
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
