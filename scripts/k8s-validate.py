"""Validates rendered Kubernetes manifests offline, for scripts/helm.sh.

    python k8s-validate.py --kubernetes-version 1.25.0 [--crd FILE]... MANIFEST...

Every document of every manifest is checked against the Kubernetes API's own schemas for that version
(kubernetes-validate, which bundles them) in strict mode, so an unknown or misspelt field fails like a
missing required one. Kinds that custom resource definitions add (a ServiceMonitor) are checked against the
openAPIV3Schema of a CRD given with --crd, with unknown fields refused too, as the API server's strict field
validation would. A document of any other kind fails: nothing goes unchecked.
"""

import argparse
import copy
import sys

import jsonschema
import kubernetes_validate
import yaml


def strict(schema):
    """The schema with additionalProperties false on every object that lists its properties."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def crd_validators(paths):
    validators = {}
    for path in paths:
        with open(path, encoding="utf-8") as file:
            crd = yaml.safe_load(file)
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return validators


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("--crd", action="append", default=[])
    parser.add_argument("manifests", nargs="+")
    args = parser.parse_args()
    crds = crd_validators(args.crd)
    failures = 0
    checked = 0
    for path in args.manifests:
        with open(path, encoding="utf-8") as file:
            documents = [d for d in yaml.safe_load_all(file) if d]
        for document in documents:
            checked += 1
            what = f"{path}: {document.get('kind')} {document.get('metadata', {}).get('name')}"
            key = (document.get("apiVersion"), document.get("kind"))
            if key in crds:
                errors = sorted(crds[key].iter_errors(document), key=lambda e: list(e.absolute_path))
                for error in errors:
                    failures += 1
                    where = "/".join(str(p) for p in error.absolute_path)
                    print(f"{what}: {where}: {error.message}", file=sys.stderr)
                continue
            try:
                kubernetes_validate.validate(document, args.kubernetes_version, strict=True)
            except kubernetes_validate.ValidationError as error:
                failures += 1
                where = "/".join(str(p) for p in error.absolute_path)
                print(f"{what}: {where}: {error.message}", file=sys.stderr)
            except kubernetes_validate.SchemaNotFoundError as error:
                failures += 1
                print(f"{what}: no schema for {key[0]} {key[1]}: {error}", file=sys.stderr)
    if failures:
        print(f"{failures} problem(s) in {checked} documents (Kubernetes {args.kubernetes_version})", file=sys.stderr)
        return 1
    print(f"{checked} documents valid against Kubernetes {args.kubernetes_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
