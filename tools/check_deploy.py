"""Offline checks of the deployment files, run by `make test`:

1. template.yaml expanded with samtranslator (as CloudFormation does with the SAM transform) and
   the result linted with cfn-lint (zero errors);
2. the REST API that SAM generates (the AWS::ApiGateway::RestApi's OpenAPI `Body`):
   - every resource path is one API Gateway accepts (no trailing `/` but the root, no empty
     segment, only the characters a path part may hold, a greedy `{proxy+}` only last) and
     every resource has an ANY method (the functions answer 405 and OPTIONS themselves);
   - every contract route, in both spellings (`/account/login` and `/account/login/`; a route
     with an `{id}` segment with a sample id in it), reaches its function under the REST API's
     matching rule (`rest_api_match`), a named resource winning over a sibling parameter
     (`/account/sessions/revoke-others` over `/account/sessions/{id}`); unknown paths under
     /account reach mypage (its JSON 404); paths outside /account reach nothing (API Gateway's
     MISSING_AUTHENTICATION_TOKEN, which must then be a 404);
   - the gateway responses (API Gateway's own answers) are JSON `{"detail": ...}` with the
     security and CORS headers; THROTTLED is 429 with Retry-After;
   - stage settings: one stage, data trace and execution logs off, the stage-wide throttle and
     a tighter one on each Argon2id route (encoded `~1` paths that exist); the stage waits for
     the account's logging role, the WAF association for the stage;
   - every function logs to a log group of the stack with a retention, and so does the stage's
     access log (a JSON format without headers, query strings or bodies);
   - every function is in one Lambda Errors alarm and one Throttles alarm, and no metric-math
     alarm references more than CloudWatch's limit of 10 metrics;
   - every function's log group feeds the AccessDenied metric filter (the mailing functions',
     those run by `run_mailing_function`, also MailSendFailures) and each metric has its alarm
     (security review #2);
   - each function may read exactly the secret it should, under HS256 and under ES256 (the
     verify-only functions only the public keys under ES256; security review #17), and the
     social providers' client secrets only the functions that exchange codes (social login and
     connect), which get that secret's ARN and the providers in their environment;
   - with the default parameters the stack's own REGIONAL web ACL guards the stage, rate-limits
     the password, mail and social sign-in routes per IP with and without the stage in the path
     (429 with Retry-After and the contract's JSON) and only counts the core rule set's body
     rules (#4);
   - the API invokes each function's `live` alias (AutoPublishAlias, deploy review M8); the
     per-route throttles name ANY and POST, never '*' outside '/*' (M2/M3); no gateway response
     carries Access-Control-Allow-Credentials (#9);
3. the routes kept in step across the template (above), the local router in Cargo.toml (it must
   send each path where the template's API would), the sample events in events/ (REST API v1
   events, one per route and spelling, shaped as API Gateway sends them, each listed in
   events/README.md) and openapi.yaml;
4. the template's table has the key schema, billing and TTL the code gives the local table
   (argument: a file holding `account-admin table-definition`'s output).

The self-test also runs the deploy scripts' own self-tests (tools/deploy_verify.py's comparison of
deployed and built bootstraps on zips made in memory; tools/predeploy_check.py's parameter rules).

Then a self-test breaks a copy of the inputs in ways these checks exist for (a route with a
trailing slash, a gateway response missing, a log group without retention, a route removed, ...)
and fails unless each break is reported. `--self-test` runs only that.

Exit status 0 when all is well; every problem is printed.
"""

import copy
import json
import logging
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import tomllib

import yaml
from samtranslator.translator.transform import transform

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import deploy_verify  # noqa: E402  (make deploy's check that Lambda runs the bootstraps just built)
import predeploy_check  # noqa: E402  (make deploy's parameter checks)

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The contract's routes (../shared/contract.md §4) and the function (functions/<name>) that
# answers each. The one list of them: everything below is derived from it.
ROUTES = {
    "/account/join": "join",
    "/account/login": "login",
    "/account/token/refresh": "refresh",
    "/account/token/verify": "token-verify",
    "/account/logout": "logout",
    "/account/password/change": "password-change",
    "/account/mypage": "mypage",
    "/account/user": "user",
    "/account/user/delete": "user-delete",
    "/account/sessions": "sessions",
    "/account/sessions/{id}": "sessions",
    "/account/sessions/revoke-others": "sessions-revoke-others",
    "/account/events": "security-events",
    "/account/admin/users": "admin-users",
    "/account/admin/users/{pk}": "admin-user",
    "/account/admin/users/{pk}/sign-out": "admin-user-sign-out",
    "/account/admin/users/{pk}/password-reset": "admin-user-password-reset",
    "/account/admin/events": "admin-events",
    "/account/social/{provider}": "social-login",
    "/account/social/{provider}/connect": "social-connect",
    "/account/socialaccounts": "social-accounts",
    "/account/socialaccounts/{pk}/disconnect": "social-account-disconnect",
    "/account/password/reset": "password-reset",
    "/account/password/reset/confirm": "password-reset-confirm",
    "/account/join/verify-email": "verify-email",
    "/account/join/resend-email": "resend-email",
    "/account/.well-known/jwks.json": "well-known",
    "/account/.well-known/openid-configuration": "well-known",
}
# What a request puts where a route has a `{name}` segment (a session id's shape).
SAMPLE_ID = "0123456789abcdef0123456789abcdef"
# Every other path under /account reaches this function, which answers the contract's JSON 404.
CATCH_ALL_FUNCTION = "mypage"
# The routes that run Argon2id or mail anyone who asks: each gets its own, tighter throttle on the
# stage, for the method it declares (ANY) and for POST (template.yaml says why both). Not social
# login and connect: they hash nothing and their work is waiting on the provider, so the stage's
# default is their throttle; what bounds one client there is the web ACL's per-IP rule
# (WAF_RATE_ROUTES below), since their cost is the provider's calls made with our client id.
HASHING_FUNCTIONS = ("join", "login", "password-change", "user-delete", "password-reset-confirm", "password-reset", "resend-email")
ROUTE_THROTTLE_METHODS = ("ANY", "POST")
def mailing_functions():
    """The functions that send mail, as the code says: run by `run_mailing_function` (their log
    groups also feed MailSendFailures)."""
    return tuple(
        main.parent.parent.name
        for main in sorted((ROOT / "functions").glob("*/src/main.rs"))
        if "run_mailing_function" in main.read_text()
    )


MAILING_FUNCTIONS = mailing_functions()
# The log-line alarms (security review #2): the JSON filter on each function's log group.
ALERT_FILTERS = {
    "AccessDenied": '{ $.fields.alert = "aws_access_denied" }',
    "MailSendFailures": '{ $.fields.alert = "mail_send_failed" }',
}


# Security review #17: the functions that sign tokens or make/check the mailed links' keys read
# the private signing key; every other one only verifies, and under ES256 may read only the
# public keys (under HS256 the shared secret is what verifies).
def signing_functions():
    """The functions that hold the signing keys, as the code says: `KEY_USE = KeyUse::Sign` in
    functions/<name>/src/lib.rs, or run by `run_mailing_function` (mailed links need them)."""
    signing = []
    for lib in sorted((ROOT / "functions").glob("*/src/lib.rs")):
        name = lib.parent.parent.name
        main = (lib.parent / "main.rs").read_text()
        if "KeyUse::Sign;" in lib.read_text() or "run_mailing_function" in main:
            signing.append(name)
    return tuple(signing)


SIGNING_FUNCTIONS = signing_functions()


def social_secret_functions():
    """The functions that read the social providers' client secrets, as the code says: those
    whose main.rs builds `Social::from_env()` (the providers and their secrets)."""
    return tuple(
        main.parent.parent.name
        for main in sorted((ROOT / "functions").glob("*/src/main.rs"))
        if "Social::from_env" in main.read_text()
    )


SOCIAL_SECRET_FUNCTIONS = social_secret_functions()
# The secret they read, and the variables that must name it and the providers in their environment.
SOCIAL_SECRET = "SocialClientSecrets"
SOCIAL_VARIABLES = {"SOCIAL_CLIENT_SECRETS_ARN": SOCIAL_SECRET, "SOCIAL_PROVIDERS": "SocialProviders"}
# Requests that must reach the catch-all function, and requests that must reach nothing (then
# API Gateway answers MISSING_AUTHENTICATION_TOKEN, which the template makes a JSON 404).
UNKNOWN_PATHS = ("/account", "/account/", "/account/nope", "/account/nope/", "/account/a/b/c/")
NOWHERE_PATHS = (
    "/", "/elsewhere", "/elsewhere/", "/accounts/login/", "/account/login/extra",
    "/account/sessions/x/y/", "/account/user/delete/x",
)
# Gateway responses that must be customised, and the headers every customised one must carry.
REQUIRED_GATEWAY_RESPONSES = ("DEFAULT_4XX", "DEFAULT_5XX", "MISSING_AUTHENTICATION_TOKEN", "THROTTLED", "REQUEST_TOO_LARGE")
SECURITY_HEADERS = {
    "Content-Type": "'application/json'",
    "X-Content-Type-Options": "'nosniff'",
    "X-Frame-Options": "'DENY'",
    "Referrer-Policy": "'same-origin'",
    "Cache-Control": "'no-store'",
    "Vary": "'Origin'",
}
# Headers no gateway response may carry: with the request's Origin reflected, credentials would
# let any site read these answers on a logged-in user's behalf (security review #9).
FORBIDDEN_GATEWAY_HEADERS = ("Access-Control-Allow-Credentials",)
# The keys API Gateway puts in a REST API (payload 1.0) Lambda proxy event.
V1_EVENT_KEYS = (
    "resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
    "multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext",
    "body", "isBase64Encoded",
)
V1_CONTEXT_KEYS = (
    "accountId", "apiId", "domainName", "domainPrefix", "extendedRequestId", "httpMethod", "identity",
    "path", "protocol", "requestId", "requestTime", "requestTimeEpoch", "resourceId", "resourcePath", "stage",
)


class CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !GetAtt, !Sub ... as their long forms, as CloudFormation does."""


def _intrinsic(loader, tag_suffix, node):
    # !Ref and !Condition have no Fn:: prefix in their long forms.
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
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


# --------------------------------------------------------------------------------------------
# Expansion and lint
# --------------------------------------------------------------------------------------------


def expand(template):
    """The template as CloudFormation runs it after the SAM transform (no AWS call is made)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
    packaged = copy.deepcopy(template)
    for resource in packaged["Resources"].values():
        # What `sam package` does: local code becomes an uploaded artifact.
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in resource["Properties"]:
            resource["Properties"]["CodeUri"] = "s3://artifacts-bucket/" + resource["Properties"]["CodeUri"]
    return transform(packaged, pseudo, NoManagedPolicies())


def lint(expanded, problems):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(expanded, handle)
    try:
        # The pinned cfn-lint next to this Python (.tools/venv), else the one on PATH.
        beside = pathlib.Path(sys.executable).parent / "cfn-lint"
        command = str(beside) if beside.exists() else "cfn-lint"
        result = subprocess.run([command, handle.name], capture_output=True, text=True)
    finally:
        os.unlink(handle.name)
    # cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational.
    if result.returncode & 2 or result.returncode & 1:
        problems.append("cfn-lint on the expanded template:\n" + result.stdout + result.stderr)
    elif result.stdout.strip():
        print("check_deploy: cfn-lint warnings (not errors):\n" + result.stdout.strip())


def resources_of_type(expanded, kind):
    return {name: r for name, r in expanded["Resources"].items() if r["Type"] == kind}


# --------------------------------------------------------------------------------------------
# The REST API: resources, matching rule, routes
# --------------------------------------------------------------------------------------------

# A path part holds letters, digits, `.`, `_`, `-`, or is a whole `{name}` / `{name+}` (the
# console's own rule: "Resource's path part only allow a-zA-Z0-9._- and curly braces at the
# beginning and the end", quoted in https://github.com/aws/chalice/issues/65).
PATH_PART = re.compile(r"^(?:[A-Za-z0-9._-]+|\{[A-Za-z0-9._-]+\+?\})$")


def rest_api_body(expanded, problems):
    apis = resources_of_type(expanded, "AWS::ApiGateway::RestApi")
    if len(apis) != 1:
        problems.append(f"expanded template: {len(apis)} REST APIs, expected one")
        return None, {}
    name, api = next(iter(apis.items()))
    properties = api["Properties"]
    if properties.get("FailOnWarnings") is not True:
        problems.append(f"{name}: FailOnWarnings is not true (a route API Gateway cannot import would be dropped silently)")
    if properties.get("EndpointConfiguration", {}).get("Types") != ["REGIONAL"]:
        problems.append(f"{name}: the endpoint is not REGIONAL")
    if "Body" not in properties:
        problems.append(f"{name}: no generated OpenAPI Body")
        return name, {}
    return name, properties["Body"]


def api_resources(body, template, problems):
    """{resource path: function name} from the generated Body (integration URIs name the functions)."""
    functions = {
        logical: pathlib.PurePath(r["Properties"]["CodeUri"]).name
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    resources = {}
    for path, item in body.get("paths", {}).items():
        methods = {k: v for k, v in item.items() if k != "parameters"}
        if "x-amazon-apigateway-any-method" not in methods:
            problems.append(f"REST API resource {path} has no ANY method: other methods would get API Gateway's 404, not the function's 405")
        targets = set()
        for method in methods.values():
            uri = method.get("x-amazon-apigateway-integration", {}).get("uri", {})
            text = uri.get("Fn::Sub", "") if isinstance(uri, dict) else str(uri)
            text = text[0] if isinstance(text, list) else text
            # With AutoPublishAlias the integration names the alias (${JoinFunctionAliaslive}), the
            # version CodeDeploy shifts; a bare ${JoinFunction.Arn} would invoke $LATEST and skip
            # the gradual deployment (deploy review M8).
            for bare in re.findall(r"\$\{(\w+)\.Arn\}", text):
                problems.append(f"REST API resource {path} invokes {bare}'s $LATEST, not its alias `live` (the gradual deployment would be skipped)")
                targets.add(functions.get(bare, bare))
            targets |= {functions.get(m, m) for m in re.findall(r"\$\{(\w+?)Alias\w+\}", text)}
        if len(targets) != 1:
            problems.append(f"REST API resource {path} integrates {sorted(targets) or 'no function'}, expected one function")
        resources[path] = next(iter(targets)) if targets else None
    return resources


def check_resource_paths(resources, problems):
    """Paths API Gateway refuses or reads otherwise than meant."""
    for path in resources:
        if path == "/":
            continue
        if not path.startswith("/"):
            problems.append(f"REST API resource {path!r} does not start with /")
            continue
        if path.endswith("/"):
            problems.append(f"REST API resource {path!r} ends in /: a resource cannot, declare {path.rstrip('/')!r} (it also answers {path!r})")
        parts = path[1:].rstrip("/").split("/")
        for index, part in enumerate(parts):
            if part == "":
                problems.append(f"REST API resource {path!r} has an empty segment")
            elif not PATH_PART.match(part):
                problems.append(f"REST API resource {path!r}: segment {part!r} has characters a path part cannot hold")
            elif part.endswith("+}") and index != len(parts) - 1:
                problems.append(f"REST API resource {path!r}: the greedy {part} must be the last segment")


def rest_api_match(request_path, resources):
    """The resource a REST API sends `request_path` to, or None (MISSING_AUTHENTICATION_TOKEN).

    The rule modelled here:
    1. A trailing slash is ignored: `/account/login/` is matched as `/account/login` (the root
       `/` stays `/`). AWS does not document it; AWS's own code and tests rely on it: the
       powertools end-to-end test on a real REST API
       (https://github.com/aws-powertools/powertools-lambda-python/blob/develop/tests/e2e/event_handler/test_paths_ending_with_slash.py,
       200 for `/todos/` with only `/todos` declared) and SAM's translator
       (samtranslator/model/eventsources/push.py: "APIGW doesn't like trailing slashes in paths
       ... and removes as a part of their behaviour, but this isn't documented").
    2. Segment by segment from the root, a resource named by the segment wins over a path
       parameter, which wins over a greedy `{name+}` of the same parent; a greedy resource takes
       the rest of the path (one segment or more). Once a named resource took a segment, the
       greedy sibling is not tried for that path: "a method request against a specific resource
       takes precedence over a method request against a generic resource at the same level",
       and "the sibling resources are excluded from the representation of the proxy resource"
       (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-method-settings-method-request.html#api-gateway-proxy-resource).
       So `/account/login` is login, `/account/nope/` is `/account/{proxy+}`, and
       `/account/login/extra` is nothing.
    3. The resource reached must be declared (have a method); otherwise nothing matches.
    """
    path = request_path if request_path == "/" else request_path.rstrip("/") or "/"
    if path == "/":
        return "/" if "/" in resources else None
    segments = path[1:].split("/")
    children = {}
    for resource in resources:
        if resource == "/":
            continue
        parts = resource[1:].split("/")
        for depth in range(len(parts)):
            children.setdefault("/" + "/".join(parts[:depth]) if depth else "/", set()).add(parts[depth])

    def child_path(parent, part):
        return (parent.rstrip("/") + "/" + part) if parent != "/" else "/" + part

    current = "/"
    for index, segment in enumerate(segments):
        names = children.get(current, set())
        if segment in names:
            current = child_path(current, segment)
            continue
        params = sorted(n for n in names if n.startswith("{") and not n.endswith("+}"))
        if params:
            current = child_path(current, params[0])
            continue
        greedy = sorted(n for n in names if n.endswith("+}"))
        if greedy:
            found = child_path(current, greedy[0])
            return found if found in resources else None
        return None
    return current if current in resources else None


def concrete(route):
    """A request path for `route`: each `{name}` segment holds a sample id."""
    return re.sub(r"\{[A-Za-z0-9._-]+\}", SAMPLE_ID, route)


def route_pattern(route):
    """A regular expression matching the request paths of `route` (one spelling)."""
    return re.compile("".join("[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", route)))


def check_routing(resources, problems):
    """Both spellings of every route reach their function; unknown paths the catch-all; others nothing."""
    for route, function in ROUTES.items():
        for request in (concrete(route), concrete(route) + "/"):
            resource = rest_api_match(request, resources)
            reached = resources.get(resource) if resource else None
            if reached != function:
                problems.append(
                    f"REST API: a request for {request} reaches {reached or 'nothing'} (resource {resource}), not {function}"
                )
    for request in UNKNOWN_PATHS:
        resource = rest_api_match(request, resources)
        reached = resources.get(resource) if resource else None
        if reached != CATCH_ALL_FUNCTION:
            problems.append(f"REST API: unknown path {request} reaches {reached or 'nothing'}, not {CATCH_ALL_FUNCTION} (its JSON 404)")
    for request in NOWHERE_PATHS:
        resource = rest_api_match(request, resources)
        if resource is not None:
            problems.append(f"REST API: {request} reaches {resource} ({resources[resource]}); it should match nothing")


# --------------------------------------------------------------------------------------------
# Gateway responses
# --------------------------------------------------------------------------------------------

# A response parameter is a static value in single quotes or a mapping of a request value
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions-gateway-responses.responseParameters.html).
PARAMETER_VALUE = re.compile(r"^(?:'[^']*'|method\.request\.(?:header|querystring|multivaluequerystring|path)\.[A-Za-z0-9._-]+|stageVariables\.[A-Za-z0-9_]+|context\.[A-Za-z0-9_.]+)$")


def check_gateway_responses(body, problems):
    responses = body.get("x-amazon-apigateway-gateway-responses", {})
    for kind in REQUIRED_GATEWAY_RESPONSES:
        if kind not in responses:
            problems.append(f"gateway responses: {kind} is not customised (API Gateway's own body would be {{\"message\": ...}})")
    for kind, response in sorted(responses.items()):
        template = response.get("responseTemplates", {}).get("application/json")
        if template is None:
            problems.append(f"gateway response {kind}: no application/json template")
        else:
            # $context.error.messageString is the message as a quoted JSON string.
            rendered = template.replace("$context.error.messageString", json.dumps('Invalid "request" body'))
            try:
                parsed = json.loads(rendered)
            except ValueError as error:
                problems.append(f"gateway response {kind}: the template is not JSON once rendered ({error}): {template}")
            else:
                if not (isinstance(parsed, dict) and isinstance(parsed.get("detail"), str)):
                    problems.append(f"gateway response {kind}: the body is not {{\"detail\": \"...\"}}: {template}")
        parameters = response.get("responseParameters", {})
        headers = {k.removeprefix("gatewayresponse.header."): v for k, v in parameters.items() if k.startswith("gatewayresponse.header.")}
        for name, value in SECURITY_HEADERS.items():
            if headers.get(name) != value:
                problems.append(f"gateway response {kind}: header {name} is {headers.get(name)!r}, expected {value!r}")
        for name in FORBIDDEN_GATEWAY_HEADERS:
            if name in headers:
                problems.append(f"gateway response {kind}: {name} is set; with the Origin reflected any site could read it with the user's cookies")
        if "Access-Control-Allow-Origin" not in headers:
            problems.append(f"gateway response {kind}: no Access-Control-Allow-Origin (browsers would hide the answer)")
        if "Retry-After" not in headers.get("Access-Control-Expose-Headers", ""):
            problems.append(f"gateway response {kind}: Access-Control-Expose-Headers does not expose Retry-After")
        for key, value in parameters.items():
            if not isinstance(value, str) or not PARAMETER_VALUE.match(value):
                problems.append(f"gateway response {kind}: {key} = {value!r} is neither a quoted static value nor a request mapping")
        status = response.get("statusCode")
        if kind in ("DEFAULT_4XX", "DEFAULT_5XX") and status is not None:
            problems.append(f"gateway response {kind}: a status code here replaces the status of every other {kind[-3:]} response")
    throttled = responses.get("THROTTLED", {})
    if throttled and str(throttled.get("statusCode")) != "429":
        problems.append(f"gateway response THROTTLED: status {throttled.get('statusCode')}, expected 429")
    if throttled and "gatewayresponse.header.Retry-After" not in throttled.get("responseParameters", {}):
        problems.append("gateway response THROTTLED: no Retry-After header")
    missing = responses.get("MISSING_AUTHENTICATION_TOKEN", {})
    if missing and str(missing.get("statusCode")) != "404":
        problems.append(f"gateway response MISSING_AUTHENTICATION_TOKEN (unknown paths): status {missing.get('statusCode')}, expected 404")


# --------------------------------------------------------------------------------------------
# Stage: settings, throttles, access log; functions' logs
# --------------------------------------------------------------------------------------------


def retained_log_group(expanded, reference, owner, problems):
    """`reference` (a Ref or GetAtt .Arn) names a log group of the stack with a retention."""
    if isinstance(reference, dict) and "Ref" in reference:
        name = reference["Ref"]
    elif isinstance(reference, dict) and "Fn::GetAtt" in reference and reference["Fn::GetAtt"][1:] == ["Arn"]:
        name = reference["Fn::GetAtt"][0]
    else:
        problems.append(f"{owner}: logs to {reference!r}, not to a log group of this stack")
        return
    group = expanded["Resources"].get(name, {})
    if group.get("Type") != "AWS::Logs::LogGroup":
        problems.append(f"{owner}: logs to {name}, which is not an AWS::Logs::LogGroup of this stack")
        return
    if "RetentionInDays" not in group.get("Properties", {}):
        problems.append(f"{owner}: its log group {name} has no RetentionInDays (kept forever)")
    if group.get("DeletionPolicy") != "Delete":
        problems.append(f"{owner}: its log group {name} does not have DeletionPolicy Delete (`sam delete` would leave it)")


def check_stage(expanded, resources, problems):
    stages = resources_of_type(expanded, "AWS::ApiGateway::Stage")
    if len(stages) != 1:
        problems.append(f"expanded template: {len(stages)} stages, expected one (OpenApiVersion stops SAM's extra 'Stage')")
    for name, stage in stages.items():
        properties = stage["Properties"]
        settings = properties.get("MethodSettings", [])
        for setting in settings:
            where = f"{name} MethodSettings {setting.get('ResourcePath')} {setting.get('HttpMethod')}"
            if setting.get("DataTraceEnabled") is True:
                problems.append(f"{where}: DataTraceEnabled would log request and response bodies (passwords, tokens)")
            if setting.get("LoggingLevel", "OFF") != "OFF":
                problems.append(f"{where}: execution logging is on")
            # "/resource/subresource must be encoded as /~1resource~1subresource"
            # (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-apigateway-stage-methodsetting.html).
            path = setting.get("ResourcePath", "")
            if path != "/*":
                if not path.startswith("/") or "/" in path[1:]:
                    problems.append(f"{where}: a ResourcePath is '/' then the path with each '/' encoded as '~1'")
                elif path[1:].replace("~1", "/") not in resources:
                    problems.append(f"{where}: {path[1:].replace('~1', '/')} is not a resource of the API")
        default = [s for s in settings if s.get("ResourcePath") == "/*" and s.get("HttpMethod") == "*"]
        if not default or "ThrottlingRateLimit" not in default[0] or "ThrottlingBurstLimit" not in default[0]:
            problems.append(f"{name}: no stage-wide throttle (ResourcePath /*, HttpMethod *)")
        for route, function in ROUTES.items():
            if function not in HASHING_FUNCTIONS:
                continue
            encoded = "/" + route.replace("/", "~1")
            for method in ROUTE_THROTTLE_METHODS:
                own = [s for s in settings if s.get("ResourcePath") == encoded and s.get("HttpMethod") == method
                       and "ThrottlingRateLimit" in s and "ThrottlingBurstLimit" in s]
                if not own:
                    problems.append(f"{name}: the route {route} has no throttle of its own for {method} (ResourcePath {encoded}, HttpMethod {method})")
        for setting in settings:
            if setting.get("HttpMethod") == "*" and setting.get("ResourcePath") != "/*":
                problems.append(f"{name}: MethodSettings {setting.get('ResourcePath')} with HttpMethod '*': CloudFormation documents '*' only with ResourcePath '/*'")
        access = properties.get("AccessLogSetting")
        if not access:
            problems.append(f"{name}: no access log")
            continue
        retained_log_group(expanded, access.get("DestinationArn"), f"{name} access log", problems)
        log_format = access.get("Format", "")
        for forbidden in ("header", "querystring", "$input", "body", "requestOverride"):
            if forbidden.lower() in log_format.lower():
                problems.append(f"{name} access log: the format logs {forbidden!r} (no headers, query strings or bodies)")
        try:
            json.loads(re.sub(r"\$context\.[A-Za-z0-9_.]+", "x", log_format))
        except ValueError as error:
            problems.append(f"{name} access log: the format is not one JSON object ({error})")


def references(value):
    """Logical ids a value refers to (Ref, GetAtt, ${...} in Sub), as CloudFormation orders on them."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt" and isinstance(inner, list):
                found.add(inner[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                variables = set(inner[1]) if isinstance(inner, list) else set()
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([A-Za-z0-9.]+)\}", text)} - variables
                found |= references(inner[1]) if isinstance(inner, list) else set()
            else:
                found |= references(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= references(inner)
    return found


def check_ordering(expanded, problems):
    """What must exist first: the account's logging role before the stage, the stage before its WAF association."""
    stages = resources_of_type(expanded, "AWS::ApiGateway::Stage")
    for account in resources_of_type(expanded, "AWS::ApiGateway::Account"):
        for name, stage in stages.items():
            if account not in references(stage.get("Properties", {})) and account not in stage.get("DependsOn", []):
                problems.append(f"{name} does not wait for {account}: access logging fails while the account has no logging role")
    for name, association in resources_of_type(expanded, "AWS::WAFv2::WebACLAssociation").items():
        if not references(association["Properties"].get("ResourceArn")) & set(stages):
            problems.append(f"{name}: its ResourceArn does not refer to the stage resource, so it may be created before the stage exists")


def resolve_conditions(value, conditions):
    """`value` with every Fn::If decided by `conditions` ({name: bool}) and AWS::NoValue dropped."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, yes, no = value["Fn::If"]
            return resolve_conditions(yes if conditions[name] else no, conditions)
        resolved = {k: resolve_conditions(v, conditions) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v != {"Ref": "AWS::NoValue"}}
    if isinstance(value, list):
        return [resolve_conditions(v, conditions) for v in value if resolve_conditions(v, conditions) != {"Ref": "AWS::NoValue"}]
    return value


def secrets_readable(expanded, function, conditions):
    """Logical ids of the secrets `function`'s role may GetSecretValue on, with `conditions`."""
    role = function["Properties"].get("Role", {})
    role_name = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
    readable = set()
    # A policy under a condition (AdminApi's) is an Fn::If around the whole policy.
    policies = expanded["Resources"].get(role_name, {}).get("Properties", {}).get("Policies", [])
    for policy in resolve_conditions(policies, conditions):
        for statement in policy["PolicyDocument"].get("Statement", []):
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if statement.get("Effect") == "Allow" and any(a in ("secretsmanager:GetSecretValue", "secretsmanager:*", "*") for a in actions):
                readable |= references(statement.get("Resource")) or {"*"}
    return readable


def check_log_alerts(expanded, template, problems):
    """Every function's log group feeds AccessDenied, the mailing ones MailSendFailures too; each
    metric has an alarm to the topic."""
    code = {
        logical: pathlib.PurePath(r["Properties"]["CodeUri"]).name
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    filters = {}
    for name, resource in resources_of_type(expanded, "AWS::Logs::MetricFilter").items():
        properties = resource["Properties"]
        for transformation in properties.get("MetricTransformations", []):
            metric = transformation.get("MetricName")
            if ALERT_FILTERS.get(metric) != properties.get("FilterPattern"):
                problems.append(f"{name}: metric {metric} with pattern {properties.get('FilterPattern')!r}")
            filters.setdefault(metric, set()).update(references(properties.get("LogGroupName")))
    for name, function in resources_of_type(expanded, "AWS::Lambda::Function").items():
        group = references(function["Properties"].get("LoggingConfig", {}).get("LogGroup"))
        logical = name if name in code else next((l for l in code if name.startswith(l)), name)
        wanted = ["AccessDenied"] + (["MailSendFailures"] if code.get(logical) in MAILING_FUNCTIONS else [])
        for metric in wanted:
            if not group & filters.get(metric, set()):
                problems.append(f"{name}: its log group {sorted(group)} has no {metric} metric filter ({ALERT_FILTERS[metric]})")
    alarmed = {a["Properties"].get("MetricName") for a in resources_of_type(expanded, "AWS::CloudWatch::Alarm").values()}
    for metric in ALERT_FILTERS:
        if metric not in alarmed:
            problems.append(f"alarms: nothing alarms on {metric}")


# Security review #4: the routes the web ACL's per-IP rate rule covers (passwords and mail), the
# managed group's rules that read the body (a password may hold anything) and must only count.
# Social login and connect too (sample providers in the paths): each request calls a provider
# with our client id, which providers count per app (template.yaml, AccountWebAcl, says more).
WAF_RATE_ROUTES = (
    "/account/login", "/account/join", "/account/password/change", "/account/password/reset",
    "/account/password/reset/confirm", "/account/join/resend-email", "/account/user/delete",
    "/account/social/google", "/account/social/kakao/connect",
)
# Paths the rule must not cover: routes a client calls often, and social ones that call no provider.
WAF_UNCOVERED_PATHS = (
    "/account/mypage/", "/api/account/token/refresh/", "/api/account/sessions/", "/account/join/verify-email/",
    "/api/account/socialaccounts/", "/account/socialaccounts/1/disconnect/",
)
WAF_COUNTED_RULES = ("SizeRestrictions_BODY", "CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY", "EC2MetaDataSSRF_BODY")


def condition_value(template, name, parameters):
    """A template condition's value with `parameters` ({name: value}, defaults filled in)."""

    def evaluate(node):
        if isinstance(node, dict) and len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return parameters[value]
            if key == "Condition":
                return evaluate(template["Conditions"][value])
            if key == "Fn::Equals":
                return str(evaluate(value[0])) == str(evaluate(value[1]))
            if key == "Fn::Not":
                return not evaluate(value[0])
            if key == "Fn::And":
                return all(evaluate(v) for v in value)
            if key == "Fn::Or":
                return any(evaluate(v) for v in value)
            if key == "Fn::Join":
                return value[0].join(evaluate(value[1]) if isinstance(value[1], dict) else value[1])
        return node

    return evaluate(template["Conditions"][name])


def check_waf(template, problems):
    """With the defaults the stack's own web ACL guards the stage, rate-limits the password and
    mail routes per IP (with and without the stage in the path) and only counts body rules."""
    resources = template["Resources"]
    defaults = {n: (p.get("Default", "") if not isinstance(p.get("Default"), list) else p["Default"]) for n, p in template["Parameters"].items()}
    association = resources.get("WebAclAssociation", {})
    if not association or not condition_value(template, association.get("Condition"), defaults):
        problems.append("WAF: with the default parameters no web ACL is associated with the stage")
    elif references(resolve_conditions(association["Properties"]["WebACLArn"], {
            n: condition_value(template, n, defaults) for n in template["Conditions"]})) != {"AccountWebAcl"}:
        problems.append("WAF: with the default parameters the association does not name the stack's own web ACL")
    acl = resources.get("AccountWebAcl", {}).get("Properties", {})
    if acl.get("Scope") != "REGIONAL":
        problems.append("WAF: the stack's web ACL is not REGIONAL (an API Gateway stage takes a REGIONAL web ACL)")
    rate = [r for r in acl.get("Rules", []) if "RateBasedStatement" in r.get("Statement", {})]
    if not rate:
        problems.append("WAF: no rate-based rule")
    for rule in rate:
        statement = rule["Statement"]["RateBasedStatement"]
        if statement.get("AggregateKeyType") != "IP":
            problems.append(f"WAF rule {rule['Name']}: not aggregated per source IP")
        custom = rule.get("Action", {}).get("Block", {}).get("CustomResponse", {})
        if custom.get("ResponseCode") != 429 or not any(h.get("Name") == "Retry-After" for h in custom.get("ResponseHeaders", [])):
            problems.append(f"WAF rule {rule['Name']}: a blocked request does not get 429 with Retry-After")
        body = acl.get("CustomResponseBodies", {}).get(custom.get("CustomResponseBodyKey"), {})
        content = body.get("Content", "")
        content = content.get("Fn::Sub", "") if isinstance(content, dict) else content
        try:
            detail = json.loads(re.sub(r"\$\{[A-Za-z0-9]+\}", "300", content)).get("detail")
        except ValueError:
            detail = None
        if body.get("ContentType") != "APPLICATION_JSON" or not isinstance(detail, str):
            problems.append(f"WAF rule {rule['Name']}: the 429 body is not the contract's JSON {{\"detail\": ...}}")
        regex = statement.get("ScopeDownStatement", {}).get("RegexMatchStatement", {}).get("RegexString", "")
        for route in WAF_RATE_ROUTES:
            for path in (route, route + "/", "/api" + route, "/api" + route + "/"):
                if not re.search(regex, path):
                    problems.append(f"WAF rule {rule['Name']}: the rate limit does not cover {path}")
        for path in WAF_UNCOVERED_PATHS:
            if re.search(regex, path):
                problems.append(f"WAF rule {rule['Name']}: the rate limit also covers {path}")
    groups = [r["Statement"]["ManagedRuleGroupStatement"] for r in acl.get("Rules", []) if "ManagedRuleGroupStatement" in r.get("Statement", {})]
    if not any(g.get("Name") == "AWSManagedRulesCommonRuleSet" for g in groups):
        problems.append("WAF: AWSManagedRulesCommonRuleSet is not in the web ACL")
    for group in groups:
        counted = {o["Name"] for o in group.get("RuleActionOverrides", []) if "Count" in o.get("ActionToUse", {})}
        for name in WAF_COUNTED_RULES if group.get("Name") == "AWSManagedRulesCommonRuleSet" else ():
            if name not in counted:
                problems.append(f"WAF: {name} blocks; a password holding what it looks for would lock its user out (override it to Count)")


def check_secret_access(expanded, template, problems):
    """Signers read the signing key; verifiers read the public keys under ES256, the shared secret
    under HS256; the functions that exchange codes also the providers' client secrets, whose ARN
    (and the providers) their environment names, and no other function may read those."""
    code = {
        logical: pathlib.PurePath(r["Properties"]["CodeUri"]).name
        for logical, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    for mode, es256 in (("HS256", False), ("ES256", True)):
        conditions = {name: False for name in expanded.get("Conditions", {})}
        conditions["UsesEs256"] = es256
        for name, function in resources_of_type(expanded, "AWS::Lambda::Function").items():
            logical = name if name in code else next((l for l in code if name.startswith(l)), name)
            readable = secrets_readable(expanded, function, conditions)
            if code.get(logical) in SIGNING_FUNCTIONS or not es256:
                wanted = {"SigningKeySecret"}
            else:
                wanted = {"PublicKeysSecret"}
            if code.get(logical) in SOCIAL_SECRET_FUNCTIONS:
                wanted.add(SOCIAL_SECRET)
            if readable != wanted:
                problems.append(f"{name} ({mode}): may read the secrets {sorted(readable) or 'none'}, expected exactly {sorted(wanted)}")
    for name, function in resources_of_type(expanded, "AWS::Lambda::Function").items():
        logical = name if name in code else next((l for l in code if name.startswith(l)), name)
        if code.get(logical) not in SOCIAL_SECRET_FUNCTIONS:
            continue
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        for variable, source in SOCIAL_VARIABLES.items():
            if references(variables.get(variable)) != {source}:
                problems.append(f"{name}: {variable} is {variables.get(variable)!r}, expected a Ref to {source} (the code reads it)")


def check_function_logs(expanded, problems):
    for name, function in resources_of_type(expanded, "AWS::Lambda::Function").items():
        group = function["Properties"].get("LoggingConfig", {}).get("LogGroup")
        if group is None:
            problems.append(f"{name}: no LoggingConfig.LogGroup (Lambda's implicit group has no retention and outlives `sam delete`)")
            continue
        retained_log_group(expanded, group, name, problems)


# CloudWatch's hard limit on the metrics a metric-math alarm references
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html).
ALARM_METRIC_LIMIT = 10


def check_alarms(expanded, problems):
    """Every function is watched for Lambda Errors and Throttles; no alarm is over the limit."""
    functions = set(resources_of_type(expanded, "AWS::Lambda::Function"))
    watched = {"Errors": set(), "Throttles": set()}
    for name, alarm in resources_of_type(expanded, "AWS::CloudWatch::Alarm").items():
        metrics = [m for m in alarm["Properties"].get("Metrics", []) if "MetricStat" in m]
        if len(metrics) > ALARM_METRIC_LIMIT:
            problems.append(f"{name}: {len(metrics)} metrics, over CloudWatch's limit of {ALARM_METRIC_LIMIT} for a metric-math alarm")
        for query in metrics:
            metric = query["MetricStat"]["Metric"]
            if metric.get("Namespace") != "AWS/Lambda" or metric.get("MetricName") not in watched:
                continue
            for dimension in metric.get("Dimensions", []):
                if dimension.get("Name") == "FunctionName":
                    watched[metric["MetricName"]] |= references(dimension.get("Value"))
    for kind, seen in watched.items():
        for function in sorted(functions - seen):
            problems.append(f"alarms: no Lambda {kind} alarm watches {function}")


# --------------------------------------------------------------------------------------------
# Router, events, OpenAPI, table
# --------------------------------------------------------------------------------------------


def check_router(router, resources, problems):
    """The local router (cargo lambda watch) sends each path where the REST API would."""
    for route, function in ROUTES.items():
        for variant in (route, route + "/"):
            if router.get(variant) != function:
                problems.append(f"Cargo.toml router: {variant} does not go to {function}")
    for key, function in router.items():
        if "{*" in key:
            samples = [re.sub(r"\{\*[^}]*\}", tail, key) for tail in ("nope", "nope/", "a/b/c/")]
        else:
            samples = [concrete(key)]
        for sample in samples:
            resource = rest_api_match(sample, resources)
            expected = resources.get(resource) if resource else None
            if expected != function:
                problems.append(f"Cargo.toml router sends {sample} to {function}; the template's API sends it to {expected or 'nothing'}")


def check_events(events, resources, stage_name, readme, problems):
    """REST API (v1) events, as API Gateway shapes them, one per route and spelling."""
    paths = {}
    for file, event in sorted(events.items()):
        missing = [k for k in V1_EVENT_KEYS if k not in event]
        if missing:
            problems.append(f"events/{file}: not a REST API (v1) proxy event, missing {missing}")
            continue
        context = event["requestContext"]
        missing = [k for k in V1_CONTEXT_KEYS if k not in context]
        if missing:
            problems.append(f"events/{file}: requestContext lacks {missing}")
            continue
        path = event["path"]
        paths.setdefault(path, []).append(file)
        resource = rest_api_match(path, resources)
        if resource is None:
            problems.append(f"events/{file}: no resource of the template's API matches path {path}")
            continue
        if event["resource"] != resource or context["resourcePath"] != resource:
            problems.append(f"events/{file}: resource {event['resource']!r} / resourcePath {context['resourcePath']!r}; API Gateway would send {resource!r}")
        if context["httpMethod"] != event["httpMethod"]:
            problems.append(f"events/{file}: httpMethod {event['httpMethod']} but requestContext.httpMethod {context['httpMethod']}")
        if context["stage"] != stage_name or context["path"] != f"/{stage_name}{path}":
            problems.append(f"events/{file}: requestContext stage/path {context['stage']!r} {context['path']!r}, expected {stage_name!r} '/{stage_name}{path}'")
        expected = path_parameters(resource, path)
        if expected and event["pathParameters"] != expected:
            problems.append(f"events/{file}: pathParameters {event['pathParameters']!r}, expected {expected!r}")
        elif not expected and event["pathParameters"] is not None:
            problems.append(f"events/{file}: pathParameters should be null for {resource}")
        headers, multi = event["headers"] or {}, event["multiValueHeaders"] or {}
        if {k: [v] for k, v in headers.items()} != multi:
            problems.append(f"events/{file}: headers and multiValueHeaders disagree")
        if f"`{file}`" not in readme:
            problems.append(f"events/README.md does not list {file}")
    for route in ROUTES:
        for variant in (route, route + "/"):
            pattern = route_pattern(variant)
            if not any(pattern.fullmatch(path) for path in paths):
                problems.append(f"events/: no event for {variant}")


def path_parameters(resource, path):
    """The pathParameters API Gateway gives a request for `path` that matched `resource`: each
    `{name}` segment's value, and a greedy `{name+}`'s rest of the path (None: no parameters)."""
    parameters = {}
    segments = path.rstrip("/").split("/")
    for index, part in enumerate(resource.split("/")):
        if part.endswith("+}"):
            parameters[part[1:-2]] = "/".join(segments[index:])
        elif part.startswith("{"):
            parameters[part[1:-1]] = segments[index]
    return parameters or None


def check_openapi(openapi_paths, problems):
    known = set(ROUTES) | {p + "/" for p in ROUTES}
    for path in sorted(known - openapi_paths):
        problems.append(f"openapi.yaml: no path {path}")
    for path in sorted(openapi_paths - known):
        problems.append(f"openapi.yaml documents {path}, which the contract does not have")


def check_table(template, expected, problems):
    """The template's table has the shape the code creates locally (`account-admin table-definition`)."""
    table = template["Resources"]["AccountsTable"]["Properties"]
    for name, value in expected.items():
        if table.get(name) != value:
            problems.append(f"template.yaml AccountsTable {name} is {table.get(name)!r}; the code says {value!r}")


# --------------------------------------------------------------------------------------------
# Running them
# --------------------------------------------------------------------------------------------


def load_inputs():
    with open(ROOT / "Cargo.toml", "rb") as handle:
        router = tomllib.load(handle)["workspace"]["metadata"]["lambda"]["watch"]["router"]
    events = {f.name: json.loads(f.read_text(encoding="utf-8")) for f in sorted((ROOT / "events").glob("*.json"))}
    return {
        "template": load_yaml(ROOT / "template.yaml"),
        "router": router,
        "events": events,
        "events_readme": (ROOT / "events" / "README.md").read_text(encoding="utf-8"),
        "openapi_paths": set(load_yaml(ROOT / "openapi.yaml")["paths"]),
    }


def run_checks(inputs, lint_it=False):
    problems = []
    template = inputs["template"]
    try:
        expanded = expand(template)
    except Exception as error:  # samtranslator raises its own exception types
        return [f"template.yaml does not expand: {error}"]
    if lint_it:
        lint(expanded, problems)
    _, body = rest_api_body(expanded, problems)
    resources = api_resources(body, template, problems)
    check_resource_paths(resources, problems)
    check_routing(resources, problems)
    check_gateway_responses(body, problems)
    check_stage(expanded, resources, problems)
    check_ordering(expanded, problems)
    check_function_logs(expanded, problems)
    check_secret_access(expanded, template, problems)
    check_log_alerts(expanded, template, problems)
    check_waf(template, problems)
    check_alarms(expanded, problems)
    check_router(inputs["router"], resources, problems)
    stage_name = template["Parameters"]["StageName"]["Default"]
    check_events(inputs["events"], resources, stage_name, inputs["events_readme"], problems)
    check_openapi(inputs["openapi_paths"], problems)
    if "table" in inputs:
        check_table(template, inputs["table"], problems)
    return problems


def _events_of(template, logical):
    return template["Resources"][logical]["Properties"]["Events"]


def _gateway_responses(template):
    return template["Resources"]["AccountApi"]["Properties"]["GatewayResponses"]


def _functions(template):
    return [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]


def _set(mapping, key, value):
    mapping[key] = value


# Each break: what it does to a copy of the inputs, and a text its report must contain.
BREAKS = [
    ("a route declared with a trailing slash",
     lambda i: _set(_events_of(i["template"], "LoginFunction")["Route"]["Properties"], "Path", "/account/login/"),
     "ends in /"),
    ("a function's route removed",
     lambda i: _events_of(i["template"], "LogoutFunction").clear(),
     "a request for /account/logout/ reaches mypage"),
    ("the catch-all removed",
     lambda i: _events_of(i["template"], "MyPageFunction").pop("UnknownRoute"),
     "unknown path /account/nope/ reaches nothing"),
    ("a resource outside /account routed",
     lambda i: _set(_events_of(i["template"], "MyPageFunction"), "Root", {"Type": "Api", "Properties": {"RestApiId": {"Ref": "AccountApi"}, "Method": "ANY", "Path": "/{proxy+}"}}),
     "/elsewhere reaches /{proxy+}"),
    ("a greedy segment before another",
     lambda i: _set(_events_of(i["template"], "MyPageFunction")["UnknownRoute"]["Properties"], "Path", "/account/{proxy+}/more"),
     "must be the last segment"),
    ("a path part with a character API Gateway refuses",
     lambda i: _set(_events_of(i["template"], "JoinFunction")["Route"]["Properties"], "Path", "/account/jo!n"),
     "characters a path part cannot hold"),
    ("a route removed where a sibling keeps its parent (no catch-all below a named resource)",
     lambda i: _events_of(i["template"], "TokenVerifyFunction").clear(),
     "a request for /account/token/verify reaches nothing"),
    ("a route's router entry sending it to another function",
     lambda i: _set(i["router"], "/account/user/", "mypage"),
     "/account/user/ does not go to user"),
    ("a route missing from openapi.yaml",
     lambda i: i["openapi_paths"].discard("/account/user"),
     "openapi.yaml: no path /account/user"),
    ("a route with a single method instead of ANY",
     lambda i: _set(_events_of(i["template"], "JoinFunction")["Route"]["Properties"], "Method", "post"),
     "has no ANY method"),
    ("a gateway response missing",
     lambda i: _gateway_responses(i["template"]).pop("THROTTLED"),
     "THROTTLED is not customised"),
    ("THROTTLED without its status",
     lambda i: _set(_gateway_responses(i["template"]), "THROTTLED", dict(_gateway_responses(i["template"])["THROTTLED"], StatusCode="403")),
     "expected 429"),
    ("unknown paths left at API Gateway's 403",
     lambda i: _gateway_responses(i["template"])["MISSING_AUTHENTICATION_TOKEN"].pop("StatusCode"),
     "expected 404"),
    ("a template whose JSON breaks once the message is put in",
     lambda i: _set(_gateway_responses(i["template"]), "DEFAULT_4XX", dict(_gateway_responses(i["template"])["DEFAULT_4XX"], ResponseTemplates={"application/json": '{"detail":"$context.error.messageString"}'})),
     "not JSON once rendered"),
    ("a security header missing",
     lambda i: _gateway_responses(i["template"])["REQUEST_TOO_LARGE"]["ResponseParameters"]["Headers"].pop("X-Frame-Options"),
     "header X-Frame-Options"),
    ("a static header value without its quotes",
     lambda i: _set(_gateway_responses(i["template"]), "DEFAULT_5XX", dict(_gateway_responses(i["template"])["DEFAULT_5XX"], ResponseParameters={"Headers": dict(_gateway_responses(i["template"])["DEFAULT_5XX"]["ResponseParameters"]["Headers"], Vary="Origin")})),
     "neither a quoted static value"),
    ("the stage not waiting for the account's logging role",
     lambda i: i["template"]["Resources"]["AccountApi"]["Properties"].pop("Tags"),
     "does not wait for ApiGatewayAccount"),
    ("the WAF association naming the stage by its name only",
     lambda i: _set(i["template"]["Resources"]["WebAclAssociation"]["Properties"], "ResourceArn", {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/${AccountApi}/stages/${StageName}"}),
     "may be created before the stage exists"),
    ("a function's log group without retention",
     lambda i: i["template"]["Resources"]["JoinLogGroup"]["Properties"].pop("RetentionInDays"),
     "JoinLogGroup has no RetentionInDays"),
    ("a function logging to Lambda's implicit group",
     lambda i: _functions(i["template"])[0]["Properties"]["LoggingConfig"].pop("LogGroup"),
     "no LoggingConfig.LogGroup"),
    ("the access log without retention",
     lambda i: i["template"]["Resources"]["ApiAccessLogGroup"]["Properties"].pop("RetentionInDays"),
     "ApiAccessLogGroup has no RetentionInDays"),
    ("the access log logging headers",
     lambda i: _set(i["template"]["Resources"]["AccountApi"]["Properties"]["AccessLogSetting"], "Format", '{"auth":"$context.requestOverride.header.Authorization"}'),
     "the format logs"),
    ("data trace on",
     lambda i: _set(i["template"]["Resources"]["AccountApi"]["Properties"]["MethodSettings"][0], "DataTraceEnabled", True),
     "DataTraceEnabled"),
    ("a route throttle with an unencoded path",
     lambda i: _set(i["template"]["Resources"]["AccountApi"]["Properties"]["MethodSettings"][1], "ResourcePath", "/account/login"),
     "each '/' encoded as '~1'"),
    ("an Argon2id route without its throttle",
     lambda i: [i["template"]["Resources"]["AccountApi"]["Properties"]["MethodSettings"].pop(1) for _ in range(2)],
     "/account/login has no throttle of its own for POST"),
    ("a route throttle for POST only",
     lambda i: i["template"]["Resources"]["AccountApi"]["Properties"]["MethodSettings"].pop(1),
     "/account/login has no throttle of its own for ANY"),
    ("a route throttle with the '*' method",
     lambda i: _set(i["template"]["Resources"]["AccountApi"]["Properties"]["MethodSettings"][1], "HttpMethod", "*"),
     "CloudFormation documents '*' only with ResourcePath '/*'"),
    ("a gateway response with credentials",
     lambda i: _gateway_responses(i["template"])["THROTTLED"]["ResponseParameters"]["Headers"].update({"Access-Control-Allow-Credentials": "'true'"}),
     "Access-Control-Allow-Credentials is set"),
    ("the router missing a spelling",
     lambda i: i["router"].pop("/account/login/"),
     "/account/login/ does not go to login"),
    ("the router sending a path elsewhere than the API",
     lambda i: _set(i["router"], "/account/mypage", "refresh"),
     "the template's API sends it to mypage"),
    ("an event for one spelling missing",
     lambda i: i["events"].pop("login-no-slash.json"),
     "no event for /account/login"),
    ("an event naming the wrong resource",
     lambda i: _set(i["events"]["unknown-route.json"], "resource", "/account/mypage"),
     "API Gateway would send '/account/{proxy+}'"),
    ("an HTTP API (v2) event",
     lambda i: _set(i["events"], "login.json", {"version": "2.0", "rawPath": "/account/login/"}),
     "not a REST API (v1) proxy event"),
    ("the named route beside a path parameter removed",
     lambda i: _events_of(i["template"], "SessionsRevokeOthersFunction").clear(),
     "a request for /account/sessions/revoke-others reaches sessions"),
    ("the id route removed",
     lambda i: _events_of(i["template"], "SessionsFunction").pop("Item"),
     f"a request for /account/sessions/{SAMPLE_ID}/ reaches nothing"),
    ("the router's id route sending elsewhere",
     lambda i: _set(i["router"], "/account/sessions/{id}/", "mypage"),
     "/account/sessions/{id}/ does not go to sessions"),
    ("an event for a path parameter without it",
     lambda i: _set(i["events"]["session-delete.json"], "pathParameters", None),
     "events/session-delete.json: pathParameters None"),
    ("a function no alarm watches",
     lambda i: i["template"]["Resources"]["BearerLambdaErrorsAlarm"]["Properties"]["Metrics"].pop(0),
     "no Lambda Errors alarm watches PasswordChangeFunction"),
    ("an alarm over CloudWatch's metric limit",
     lambda i: i["template"]["Resources"]["LambdaThrottlesAlarm"]["Properties"]["Metrics"].extend(
         copy.deepcopy(i["template"]["Resources"]["BearerLambdaThrottlesAlarm"]["Properties"]["Metrics"][:6])),
     "over CloudWatch's limit of 10"),
    ("a verify-only function reading the private key under ES256",
     lambda i: _set(i["template"]["Resources"]["MyPageFunction"]["Properties"]["Policies"][0]["AWSSecretsManagerGetSecretValuePolicy"], "SecretArn", {"Ref": "SigningKeySecret"}),
     "MyPageFunction (ES256): may read the secrets ['SigningKeySecret'], expected exactly ['PublicKeysSecret']"),
    ("a function that exchanges no code given the providers' client secrets",
     lambda i: i["template"]["Resources"]["SocialAccountsFunction"]["Properties"]["Policies"].append(
         {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "SocialClientSecrets"}}}),
     "SocialAccountsFunction (HS256): may read the secrets ['SigningKeySecret', 'SocialClientSecrets'], expected exactly ['SigningKeySecret']"),
    ("social login without the providers' client secrets",
     lambda i: i["template"]["Resources"]["SocialLoginFunction"]["Properties"]["Policies"].pop(1),
     "SocialLoginFunction (ES256): may read the secrets ['SigningKeySecret'], expected exactly ['SigningKeySecret', 'SocialClientSecrets']"),
    ("social connect without the providers in its environment",
     lambda i: i["template"]["Resources"]["SocialConnectFunction"]["Properties"]["Environment"]["Variables"].pop("SOCIAL_PROVIDERS"),
     "SOCIAL_PROVIDERS is None, expected a Ref to SocialProviders"),
    ("the provider route removed beside its named child",
     lambda i: _events_of(i["template"], "SocialLoginFunction").clear(),
     f"a request for /account/social/{SAMPLE_ID}/ reaches nothing"),
    ("social login left out of the web ACL's rate limit",
     lambda i: _set(i["template"]["Resources"]["AccountWebAcl"]["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["RegexMatchStatement"], "RegexString", "^(/[^/]+)?/account/(login|join|join/resend-email|password/change|password/reset|password/reset/confirm|user/delete)/?$"),
     "the rate limit does not cover /api/account/social/google/"),
    ("a signing function given only the public keys",
     lambda i: _set(i["template"]["Resources"]["LoginFunction"]["Properties"]["Policies"][0]["AWSSecretsManagerGetSecretValuePolicy"], "SecretArn", {"Ref": "PublicKeysSecret"}),
     "LoginFunction (HS256): may read the secrets ['PublicKeysSecret'], expected exactly ['SigningKeySecret']"),
    ("a function's log group without the access-denied filter",
     lambda i: i["template"]["Resources"].pop("SessionsAccessDeniedFilter"),
     "SessionsFunction: its log group ['SessionsLogGroup'] has no AccessDenied metric filter"),
    ("a mailing function without the mail filter",
     lambda i: i["template"]["Resources"].pop("ResendEmailMailSendFailedFilter"),
     "ResendEmailFunction: its log group ['ResendEmailLogGroup'] has no MailSendFailures metric filter"),
    ("social login, which mails, without the mail filter",
     lambda i: i["template"]["Resources"].pop("SocialLoginMailSendFailedFilter"),
     "SocialLoginFunction: its log group ['SocialLoginLogGroup'] has no MailSendFailures metric filter"),
    ("the access-denied alarm removed",
     lambda i: i["template"]["Resources"].pop("AccessDeniedAlarm"),
     "nothing alarms on AccessDenied"),
    ("no web ACL by default",
     lambda i: _set(i["template"]["Parameters"]["WebAcl"], "Default", "none"),
     "with the default parameters no web ACL is associated"),
    ("a body rule of the core rule set left blocking",
     lambda i: i["template"]["Resources"]["AccountWebAcl"]["Properties"]["Rules"][1]["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"].pop(1),
     "CrossSiteScripting_BODY blocks"),
    ("the rate limit's regex missing the stage prefix",
     lambda i: _set(i["template"]["Resources"]["AccountWebAcl"]["Properties"]["Rules"][0]["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["RegexMatchStatement"], "RegexString", "^/account/(login|join|join/resend-email|password/change|password/reset|password/reset/confirm|user/delete)/?$"),
     "the rate limit does not cover /api/account/login"),
    ("the rate limit answering 403",
     lambda i: _set(i["template"]["Resources"]["AccountWebAcl"]["Properties"]["Rules"][0]["Action"]["Block"]["CustomResponse"], "ResponseCode", 403),
     "does not get 429 with Retry-After"),
    ("functions without the alias the API should invoke",
     lambda i: i["template"]["Globals"]["Function"].pop("AutoPublishAlias") and i["template"]["Globals"]["Function"].pop("DeploymentPreference"),
     "invokes JoinFunction's $LATEST"),
    ("an event missing from events/README.md",
     lambda i: _set(i, "events_readme", i["events_readme"].replace("join-no-slash.json", "")),
     "does not list join-no-slash.json"),
]


def self_test(inputs):
    """Each break must be reported by the checks; the unbroken inputs must pass."""
    failures = []
    baseline = run_checks(copy.deepcopy(inputs))
    if baseline:
        failures.append("the unbroken inputs do not pass:\n  " + "\n  ".join(baseline))
    for name, breaker, expected in BREAKS:
        broken = copy.deepcopy(inputs)
        breaker(broken)
        problems = run_checks(broken)
        if not any(expected in problem for problem in problems):
            failures.append(f"{name}: not caught (expected a report containing {expected!r}; got {problems or 'none'})")
        else:
            print(f"check_deploy: self-test: caught {name}")
    return failures


def main(argv):
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    only_self_test = "--self-test" in argv
    args = [a for a in argv if not a.startswith("--")]
    inputs = load_inputs()
    problems = []
    if not only_self_test:
        if not args:
            problems.append("usage: check_deploy.py TABLE_DEFINITION_JSON (from `account-admin table-definition`) | --self-test")
        else:
            inputs_with_table = dict(inputs, table=json.loads(pathlib.Path(args[0]).read_text(encoding="utf-8")))
            problems += run_checks(inputs_with_table, lint_it=True)
    if not problems:
        problems += [f"self-test: {failure}" for failure in self_test(inputs)]
        # The deploy scripts' own logic, on data made in memory (no AWS call).
        problems += [f"self-test: {failure}" for failure in deploy_verify.self_test()]
        problems += [f"self-test: {failure}" for failure in predeploy_check.self_test()]
    for problem in problems:
        print(f"check_deploy: {problem}", file=sys.stderr)
    if problems:
        return 1
    if not only_self_test:
        print(
            f"check_deploy: template expands and lints clean; {len(ROUTES)} routes reach their functions in both spellings "
            f"on the REST API and in step in the router, events/ and openapi.yaml; gateway responses, stage and logs as required; same table"
        )
    print(f"check_deploy: self-test: all {len(BREAKS)} breaks caught")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
