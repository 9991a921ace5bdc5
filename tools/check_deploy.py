"""Offline checks of the deployment files, run by `make test`:

1. template.yaml expanded with samtranslator (as CloudFormation would) and linted with cfn-lint;
2. one list of the contract's routes kept in step across four places: the template's HttpApi
   routes, the local router in Cargo.toml, the sample events in events/, and openapi.yaml;
3. the template's table has the key schema, billing and TTL the code gives the local table
   (argument: a file holding `account-admin table-definition`'s output).

Exit status 0 when all is well; every problem is printed.
"""

import copy
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import tomllib

import yaml
from samtranslator.translator.transform import transform

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The contract's routes (../shared/contract.md §4) and the function that answers each.
ROUTES = {
    "/account/join": "join",
    "/account/login": "login",
    "/account/token/refresh": "refresh",
    "/account/logout": "logout",
    "/account/password/change": "password-change",
    "/account/mypage": "mypage",
}


class CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !GetAtt, !Sub ... as their long forms, as CloudFormation does."""


def _intrinsic(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


class NoManagedPolicies:
    """The template names no managed policies by name, so nothing needs looking up in IAM."""

    def load(self):
        return {}


def load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=CloudFormationLoader)


def expand_and_lint(problems):
    template = load_yaml(ROOT / "template.yaml")
    # Pseudo parameters as CloudFormation would fill them in; no AWS account is asked.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    packaged = copy.deepcopy(template)
    for resource in packaged["Resources"].values():
        # What `sam package` does: local code becomes an uploaded artifact.
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/" + resource["Properties"]["CodeUri"]
    expanded = transform(packaged, pseudo, NoManagedPolicies())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(expanded, handle)
    result = subprocess.run(["cfn-lint", handle.name], capture_output=True, text=True)
    # cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational.
    if result.returncode & 2 or result.returncode & 1:
        problems.append("cfn-lint on the expanded template:\n" + result.stdout + result.stderr)
    elif result.stdout.strip():
        # SAM resolves some parameters (CORS origins) at expansion, so cfn-lint warns that they
        # are unused: shown, not fatal.
        print("check_deploy: cfn-lint warnings (not errors):\n" + result.stdout.strip())
    return template


def template_routes(template):
    routes = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        function = pathlib.PurePath(resource["Properties"]["CodeUri"]).name
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                routes[event["Properties"]["Path"]] = function
    return routes


def check_routes(template, problems):
    in_template = template_routes(template)
    with open(ROOT / "Cargo.toml", "rb") as handle:
        router = tomllib.load(handle)["workspace"]["metadata"]["lambda"]["watch"]["router"]
    openapi_paths = set(load_yaml(ROOT / "openapi.yaml")["paths"])
    event_paths = {}
    for event_file in sorted((ROOT / "events").glob("*.json")):
        event = json.loads(event_file.read_text(encoding="utf-8"))
        event_paths.setdefault(event["rawPath"].rstrip("/"), []).append(event_file.name)

    for path, function in ROUTES.items():
        for variant in (path, path + "/"):
            if in_template.get(variant) != function:
                problems.append(f"template.yaml: no HttpApi route {variant} on the {function} function")
            if router.get(variant) != function:
                problems.append(f"Cargo.toml router: {variant} does not go to {function}")
            if variant not in openapi_paths:
                problems.append(f"openapi.yaml: no path {variant}")
        if path not in event_paths:
            problems.append(f"events/: no event for {path}")
    known = set(ROUTES) | {p + "/" for p in ROUTES}
    # Unknown paths under /account/ go to one function, which answers the JSON 404.
    catch_all = {"/account", "/account/"}
    for path in sorted(set(in_template) - known - catch_all - {"/account/{proxy+}"}):
        problems.append(f"template.yaml routes {path}, which the contract does not have")
    for path in sorted(set(router) - known - catch_all - {"/account/{*unknown}"}):
        problems.append(f"Cargo.toml routes {path}, which the contract does not have")
    for path in sorted(openapi_paths - known):
        problems.append(f"openapi.yaml documents {path}, which the contract does not have")


def check_table(template, problems):
    """The template's table has the shape the code creates locally (`account-admin table-definition`)."""
    if len(sys.argv) < 2:
        problems.append("usage: check_deploy.py TABLE_DEFINITION_JSON (from `account-admin table-definition`)")
        return
    expected = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))
    table = template["Resources"]["AccountsTable"]["Properties"]
    for name, value in expected.items():
        if table.get(name) != value:
            problems.append(f"template.yaml AccountsTable {name} is {table.get(name)!r}; the code says {value!r}")


def main():
    problems = []
    template = expand_and_lint(problems)
    check_routes(template, problems)
    check_table(template, problems)
    for problem in problems:
        print(f"check_deploy: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_deploy: template expands and lints clean; {len(ROUTES)} routes in step in 4 places; same table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
