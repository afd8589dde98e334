"""Render a Kustomize directory without kubectl/kustomize (CI has neither).

    python deploy/kustomize_lite.py deploy/k8s/base > rendered.yaml

Implements exactly the subset that deploy/k8s uses, the way kustomize does:

* ``resources``: files, or directories holding a kustomization.yaml (recursed);
* ``namespace``: set on every namespaced object;
* ``labels``: ``pairs`` added to ``metadata.labels``; with ``includeSelectors``
  also to selectors and pod templates, with ``includeTemplates`` to pod templates;
* ``images``: ``name`` -> ``newName`` / ``newTag`` / ``digest`` in containers and
  initContainers;
* ``patches`` with a ``path`` to a strategic-merge patch file whose ``kind`` and
  ``metadata.name`` name the target (maps merge, lists of named items merge by
  ``name``, other values replace).

Any other key is an error, so that a kustomization using more than this cannot
pass CI while rendering differently from the real tool. Stdlib + PyYAML only.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "StorageClass",
    "CustomResourceDefinition",
    "PersistentVolume",
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class RenderError(Exception):
    pass


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("kind") in WORKLOADS:
        return obj.get("spec", {}).get("template", {}).get("spec")
    if obj.get("kind") == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if obj.get("kind") == "Pod":
        return obj.get("spec")
    return None


def _merge(base: Any, patch: Any) -> Any:
    """Strategic-merge for the cases we use: maps merge, named lists merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        out_list = [copy.deepcopy(i) for i in base]
        index = {item["name"]: n for n, item in enumerate(out_list)}
        for item in patch:
            if item["name"] in index:
                n = index[item["name"]]
                out_list[n] = _merge(out_list[n], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _load_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def render(directory: Path) -> list[dict[str, Any]]:
    kfile = directory / "kustomization.yaml"
    if not kfile.is_file():
        raise RenderError(f"{directory}: no kustomization.yaml")
    spec = yaml.safe_load(kfile.read_text(encoding="utf-8")) or {}
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise RenderError(f"{kfile}: unsupported keys {sorted(unknown)} (extend kustomize_lite.py)")
    if spec.get("kind", "Kustomization") != "Kustomization":
        raise RenderError(f"{kfile}: kind must be Kustomization")

    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            objects.extend(render(path))
        elif path.is_file():
            objects.extend(_load_docs(path))
        else:
            raise RenderError(f"{kfile}: resource {entry!r} does not exist")

    for patch_entry in spec.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise RenderError(f"{kfile}: only `patches: - path: FILE` is supported")
        for patch in _load_docs(directory / patch_entry["path"]):
            kind, name = patch.get("kind"), patch.get("metadata", {}).get("name")
            targets = [
                o for o in objects if o.get("kind") == kind and o["metadata"].get("name") == name
            ]
            if len(targets) != 1:
                raise RenderError(
                    f"{kfile}: patch for {kind}/{name} matches {len(targets)} objects"
                )
            n = objects.index(targets[0])
            objects[n] = _merge(objects[n], patch)

    namespace = spec.get("namespace")
    if namespace:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = namespace

    for group in spec.get("labels", []):
        unknown = set(group) - {"pairs", "includeSelectors", "includeTemplates"}
        if unknown:
            raise RenderError(f"{kfile}: labels: unsupported keys {sorted(unknown)}")
        pairs = group.get("pairs", {})
        selectors = bool(group.get("includeSelectors", False))
        templates = selectors or bool(group.get("includeTemplates", False))
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
            if obj.get("kind") in WORKLOADS and templates:
                tmpl = obj["spec"]["template"].setdefault("metadata", {})
                tmpl.setdefault("labels", {}).update(pairs)
            if selectors:
                if obj.get("kind") in WORKLOADS:
                    obj["spec"]["selector"].setdefault("matchLabels", {}).update(pairs)
                elif obj.get("kind") == "Service":
                    obj["spec"].setdefault("selector", {}).update(pairs)
                elif obj.get("kind") == "PodDisruptionBudget":
                    obj["spec"]["selector"].setdefault("matchLabels", {}).update(pairs)

    for image in spec.get("images", []):
        unknown = set(image) - {"name", "newName", "newTag", "digest"}
        if unknown:
            raise RenderError(f"{kfile}: images: unsupported keys {sorted(unknown)}")
        used = False
        for obj in objects:
            pod = _pod_spec(obj)
            if not pod:
                continue
            for container in pod.get("initContainers", []) + pod.get("containers", []):
                ref = container.get("image", "")
                repo, tag = ref, None
                if "@" in ref:
                    repo = ref.split("@", 1)[0]
                elif ":" in ref.rsplit("/", 1)[-1]:
                    repo, tag = ref.rsplit(":", 1)
                if repo != image["name"]:
                    continue
                used = True
                new = image.get("newName", repo)
                if "digest" in image:
                    new += "@" + image["digest"]
                elif "newTag" in image:
                    new += ":" + str(image["newTag"])
                elif tag:
                    new += ":" + tag
                container["image"] = new
        if not used:
            raise RenderError(f"{kfile}: images: no container uses image {image['name']!r}")
    return objects


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        objects = render(Path(argv[1]))
    except (RenderError, OSError, yaml.YAMLError, KeyError) as exc:
        print(f"kustomize_lite: {exc}", file=sys.stderr)
        return 1
    yaml.safe_dump_all(objects, sys.stdout, sort_keys=False, default_flow_style=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
