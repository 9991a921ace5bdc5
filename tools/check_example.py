"""The example consumer (examples/consumer/template.yaml), checked offline as our own template:
expanded with samtranslator as CloudFormation would, linted with cfn-lint (zero errors), and its
authorizer checked to be one that can accept the account API's tokens: a REST API JWT
authorizer on ES256 with an issuer and at least one audience, on the route's method."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_deploy  # noqa: E402

TEMPLATE = check_deploy.ROOT / "examples" / "consumer" / "template.yaml"


def main():
    problems = []
    template = check_deploy.load_yaml(TEMPLATE)
    expanded = check_deploy.expand(template)
    check_deploy.lint(expanded, problems)
    authorizers = check_deploy.resources_of_type(expanded, "AWS::ApiGateway::Authorizer")
    if len(authorizers) != 1:
        problems.append(f"one JWT authorizer expected, found {len(authorizers)}")
    for name, authorizer in authorizers.items():
        properties = authorizer["Properties"]
        jwt = properties.get("JwtConfiguration", {})
        if properties.get("Type") != "JWT":
            problems.append(f"{name}: not a JWT authorizer")
        if "ES256" not in jwt.get("DefaultAlgorithms", []):
            problems.append(f"{name}: ES256 is not among its algorithms (the account API signs ES256)")
        for issuer in jwt.get("Issuers", []) or [{}]:
            if not issuer.get("Issuer") or not issuer.get("Audiences"):
                problems.append(f"{name}: every issuer needs its audiences")
        methods = check_deploy.resources_of_type(expanded, "AWS::ApiGateway::Method")
        if not any(m["Properties"].get("AuthorizerId") == {"Ref": name} and m["Properties"].get("AuthorizationType") == "JWT" for m in methods.values()):
            problems.append(f"{name}: no method uses it")
    if check_deploy.resources_of_type(expanded, "AWS::ApiGatewayV2::Authorizer"):
        problems.append("an HTTP API JWT authorizer verifies RSA signatures only: it cannot take ES256 tokens")
    for problem in problems:
        print(f"check_example: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print("check_example: examples/consumer/template.yaml expands and lints clean; a REST API JWT authorizer on ES256 with an audience guards GET /orders")


if __name__ == "__main__":
    main()
