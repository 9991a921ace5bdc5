"""What `make deploy` ships is what it just built (deploy review, H2).

`sam build` may copy a function from its cache instead of building it: the cache is valid while
the hash of the function's own CodeUri folder is unchanged
(samcli/lib/build/build_strategy.py, CachedBuildStrategy.build_single_function_definition:
`source_hash = dir_checksum(code_dir, ...)`, then "Valid cache found, copying previously built
resources"; https://github.com/aws/aws-sam-cli/blob/develop/samcli/lib/build/build_strategy.py).
Our CodeUri is functions/<name>; most of the code is in shared/ and every version in the root
Cargo.lock, outside it. samconfig.toml turns the cache off for every environment, and this
script makes a stale or foreign binary fail the deploy loudly all the same:

    deploy_verify.py record STARTED_AT_FILE [BUILD_DIR]
        after `sam build`: every BUILD_DIR/*Function/bootstrap (default .aws-sam/build) must be
        newer than STARTED_AT_FILE (touched just before the build); their sha256 are written to
        BUILD_DIR/../bootstrap-sha256.json.
    deploy_verify.py verify STACK_NAME [MANIFEST]
        after `sam deploy`: for each function of the stack, Lambda's GetFunction gives a
        presigned Code.Location
        (https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html); the zip is fetched,
        its `bootstrap` hashed and compared with the recorded one, for the function's $LATEST
        and, when the function has the alias the API invokes (AutoPublishAlias `live`), for
        that alias. Any difference: exit 1, naming the function.

The comparison (`compare`) works on bytes, so tools/check_deploy.py's self-test exercises it
with zips made in memory (`self_test`), no AWS call.
"""

import hashlib
import io
import json
import pathlib
import sys
import urllib.request
import zipfile

ALIAS = "live"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def built_bootstraps(build_dir, started_at):
    """{logical id: sha256} of every built bootstrap; raises ValueError naming each stale or
    missing one (a bootstrap older than the build's start was not built by this build)."""
    build_dir = pathlib.Path(build_dir)
    found, problems = {}, []
    functions = sorted(p for p in build_dir.glob("*Function") if p.is_dir())
    if not functions:
        raise ValueError(f"no *Function folder in {build_dir}: did sam build run?")
    for folder in functions:
        bootstrap = folder / "bootstrap"
        if not bootstrap.is_file():
            problems.append(f"{folder.name}: no bootstrap in {folder}")
            continue
        if bootstrap.stat().st_mtime < started_at:
            problems.append(f"{folder.name}: {bootstrap} is older than this build's start (a cached or stale binary)")
            continue
        found[folder.name] = sha256(bootstrap.read_bytes())
    if problems:
        raise ValueError("\n".join(problems))
    return found


def bootstrap_of_zip(zip_bytes):
    """The sha256 of the `bootstrap` inside a deployment package, or None when it has none."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            if "bootstrap" not in archive.namelist():
                return None
            return sha256(archive.read("bootstrap"))
    except zipfile.BadZipFile:
        return None


def compare(expected, deployed):
    """Problems (empty when all is well) between the recorded hashes {logical id: sha256} and
    the deployed packages {logical id: {qualifier: zip bytes}}: a function missing on either
    side, a package without bootstrap, or a bootstrap other than the one just built."""
    problems = []
    for logical in sorted(set(expected) - set(deployed)):
        problems.append(f"{logical}: built, but the stack has no such function")
    for logical in sorted(set(deployed) - set(expected)):
        problems.append(f"{logical}: deployed, but this build made no bootstrap for it")
    for logical in sorted(set(expected) & set(deployed)):
        for qualifier, package in sorted(deployed[logical].items()):
            got = bootstrap_of_zip(package)
            if got is None:
                problems.append(f"{logical} ({qualifier}): the deployed package holds no bootstrap")
            elif got != expected[logical]:
                problems.append(
                    f"{logical} ({qualifier}): deployed bootstrap sha256 {got[:12]}… is not the one just built ({expected[logical][:12]}…)"
                )
    return problems


def fetch_deployed(stack_name):
    """{logical id: {qualifier: zip bytes}} for every Lambda function of the stack (boto3)."""
    import boto3

    cloudformation, lambda_ = boto3.client("cloudformation"), boto3.client("lambda")
    deployed = {}
    paginator = cloudformation.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] != "AWS::Lambda::Function":
                continue
            name, packages = resource["PhysicalResourceId"], {}
            for qualifier in ("$LATEST", ALIAS):
                try:
                    answer = lambda_.get_function(FunctionName=name, Qualifier=qualifier)
                except lambda_.exceptions.ResourceNotFoundException:
                    continue  # no alias: AutoPublishAlias is not on this function
                with urllib.request.urlopen(answer["Code"]["Location"], timeout=60) as response:
                    packages[qualifier] = response.read()
            deployed[resource["LogicalResourceId"]] = packages
    return deployed


def self_test():
    """The comparison on packages made in memory: failures as a list of texts."""

    def package(content, name="bootstrap"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name, content)
        return buffer.getvalue()

    built = {"JoinFunction": sha256(b"join v2"), "LoginFunction": sha256(b"login v2")}
    cases = [
        ("the packages just built", {"JoinFunction": {"$LATEST": package(b"join v2"), ALIAS: package(b"join v2")}, "LoginFunction": {"$LATEST": package(b"login v2")}}, []),
        ("a stale bootstrap", {"JoinFunction": {"$LATEST": package(b"join v1")}, "LoginFunction": {"$LATEST": package(b"login v2")}}, ["JoinFunction ($LATEST): deployed bootstrap"]),
        ("an alias left on the old version", {"JoinFunction": {"$LATEST": package(b"join v2"), ALIAS: package(b"join v1")}, "LoginFunction": {"$LATEST": package(b"login v2")}}, ["JoinFunction (live): deployed bootstrap"]),
        ("a package without bootstrap", {"JoinFunction": {"$LATEST": package(b"join v2", "main")}, "LoginFunction": {"$LATEST": package(b"login v2")}}, ["JoinFunction ($LATEST): the deployed package holds no bootstrap"]),
        ("not a zip", {"JoinFunction": {"$LATEST": b"garbage"}, "LoginFunction": {"$LATEST": package(b"login v2")}}, ["JoinFunction ($LATEST): the deployed package holds no bootstrap"]),
        ("a function the build did not make", {"JoinFunction": {"$LATEST": package(b"join v2")}, "LoginFunction": {"$LATEST": package(b"login v2")}, "OtherFunction": {"$LATEST": package(b"x")}}, ["OtherFunction: deployed, but this build made no bootstrap"]),
        ("a built function missing from the stack", {"JoinFunction": {"$LATEST": package(b"join v2")}}, ["LoginFunction: built, but the stack has no such function"]),
    ]
    failures = []
    for name, deployed, wanted in cases:
        problems = compare(built, deployed)
        if not wanted and problems:
            failures.append(f"deploy_verify: {name}: reported {problems}")
        for text in wanted:
            if not any(problem.startswith(text) for problem in problems):
                failures.append(f"deploy_verify: {name}: no report starting {text!r} (got {problems})")
    # A bootstrap older than the build's start is refused, a fresh one recorded.
    import os
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as folder:
        build = pathlib.Path(folder) / "build"
        for logical, content in (("JoinFunction", b"join v2"), ("LoginFunction", b"login v2")):
            (build / logical).mkdir(parents=True)
            (build / logical / "bootstrap").write_bytes(content)
        started = time.time() - 60
        if built_bootstraps(build, started) != built:
            failures.append("deploy_verify: fresh bootstraps are not recorded with their sha256")
        os.utime(build / "LoginFunction" / "bootstrap", (started - 60, started - 60))
        try:
            built_bootstraps(build, started)
            failures.append("deploy_verify: a bootstrap older than the build's start was accepted")
        except ValueError as error:
            if "LoginFunction" not in str(error):
                failures.append(f"deploy_verify: the stale bootstrap's report does not name it: {error}")
    return failures


def main(argv):
    if len(argv) >= 2 and argv[0] == "record":
        build_dir = pathlib.Path(argv[2] if len(argv) > 2 else ".aws-sam/build")
        try:
            recorded = built_bootstraps(build_dir, pathlib.Path(argv[1]).stat().st_mtime)
        except ValueError as error:
            print(f"deploy_verify: sam build did not build every function:\n{error}", file=sys.stderr)
            return 1
        manifest = build_dir.parent / "bootstrap-sha256.json"
        manifest.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"deploy_verify: {len(recorded)} bootstraps built by this build, sha256 in {manifest}")
        return 0
    if len(argv) >= 2 and argv[0] == "verify":
        manifest = pathlib.Path(argv[2] if len(argv) > 2 else ".aws-sam/bootstrap-sha256.json")
        expected = json.loads(manifest.read_text(encoding="utf-8"))
        problems = compare(expected, fetch_deployed(argv[1]))
        for problem in problems:
            print(f"deploy_verify: DEPLOYED CODE MISMATCH: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"deploy_verify: stack {argv[1]}: the {len(expected)} deployed functions run the bootstraps just built")
        return 0
    if argv == ["--self-test"]:
        failures = self_test()
        for failure in failures:
            print(failure, file=sys.stderr)
        return 1 if failures else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
