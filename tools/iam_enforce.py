"""Run every function locally under exactly the IAM policy template.yaml gives it on AWS.

On AWS each function's calls are authorised against its role's policy; locally every process
talked to moto with dummy keys, so a call the template does not grant (PasswordChangeFunction's
GetItem) passed here and failed there. This tool makes the local server refuse it too.

Two halves:

1. The server: `iam_enforce.py serve HOST PORT` runs tools/dynamodb_server.py (moto, one request
   at a time) with IAM enforcement on from its first request, and DynamoDB authorised as AWS
   does it. Stock moto (5.2.5) cannot be used as it is, because for DynamoDB it:
   - checks the operation's name as the action: TransactWriteItems needs
     `dynamodb:TransactWriteItems`, which is no IAM action on AWS; AWS checks each item's
     action (`PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`; `GetItem` for
     TransactGetItems) on that item's table
     (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html);
   - authorises every call against the resource "*": a statement naming the table's ARN never
     matches (everything the template grants would be refused), and one with Resource "*" lets a
     function reach any table;
   - answers a refusal as XML with the code AccessDenied, where DynamoDB answers JSON
     AccessDeniedException.
   `install()` replaces moto's DynamoDB authorisation with one that checks, for each call, the
   actions AWS checks on the ARNs AWS checks (one per table of a batch, one per item of a
   transaction, the index's ARN for a Query or Scan of an index), through moto's own signature
   check and policy evaluator, and answers as DynamoDB does. `dynamodb_server.py` can also call
   `install()` itself; this tool checks the server it is given behaves so (a probe) and stops
   if it does not.

2. The users: `iam_enforce.py ENDPOINT TABLE REGION CREDENTIALS_FILE` expands template.yaml as
   tools/check_deploy.py does (samtranslator, offline), takes each AWS::Lambda::Function's role
   and its policies (intrinsics resolved to local values: the table's ARN for AccountsTable,
   a local ARN for the secret, parameters at their defaults), creates one IAM user per function
   in moto with exactly those statements as inline policies, one `admin` user allowed
   everything (for the tests, which read and edit the table), and writes a shared credentials
   file with one profile per function, named as its binary (`[password-change]`), and `[admin]`.

What moto's evaluator still cannot check, so this tool refuses to pretend (it stops rather than
run a policy laxer than AWS would): `Condition` blocks (moto ignores them when authorising a
call: an Allow with a condition would allow unconditionally), `NotResource` (moto treats such a
statement as matching every resource), permissions boundaries, AWS managed policies other than
the logs-only ones. Policies of other services (secretsmanager, ses) are written as the
template says, but moto matches them against "*" only: a function calling Secrets Manager or
SES against moto under its own profile would be refused (stricter than AWS, never laxer); the
test stack uses key files and a file outbox instead.

Usage:
  iam_enforce.py serve HOST PORT
  iam_enforce.py ENDPOINT TABLE REGION CREDENTIALS_FILE [--template PATH] [--require-cargo-profiles]
  iam_enforce.py --self-test
"""

import argparse
import copy
import json
import logging
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
import urllib.request

TOOLS = pathlib.Path(__file__).resolve().parent
ROOT = TOOLS.parent
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

# ============================================================================================
# 1. The server: DynamoDB authorised as AWS authorises it
# ============================================================================================

# The action AWS checks for each kind of item of a transaction.
TRANSACT_WRITE_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Operations whose `TableName` names the table and `IndexName` an index of it (then AWS checks
# the index's ARN, table/NAME/index/INDEX).
INDEX_OPERATIONS = ("Query", "Scan")
# Parameters naming the resource of operations without a TableName.
RESOURCE_PARAMETERS = ("ResourceArn", "StreamArn", "BackupArn", "TableArn", "ExportArn", "ImportArn")


def dynamodb_checks(operation, params, partition, region, account):
    """[(IAM action without its prefix, resource ARN)] that AWS requires for this call, in order,
    without repeats. Every one must be allowed for the call to be."""

    def table_arn(name):
        return name if name.startswith("arn:") else f"arn:{partition}:dynamodb:{region}:{account}:table/{name}"

    checks = []
    if operation == "TransactWriteItems":
        for item in params.get("TransactItems") or []:
            for kind, body in item.items():
                if kind in TRANSACT_WRITE_ACTIONS and isinstance(body, dict) and "TableName" in body:
                    checks.append((TRANSACT_WRITE_ACTIONS[kind], table_arn(body["TableName"])))
    elif operation == "TransactGetItems":
        for item in params.get("TransactItems") or []:
            body = item.get("Get")
            if isinstance(body, dict) and "TableName" in body:
                checks.append(("GetItem", table_arn(body["TableName"])))
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        checks = [(operation, table_arn(name)) for name in params.get("RequestItems") or {}]
    elif "TableName" in params:
        arn = table_arn(params["TableName"])
        if operation in INDEX_OPERATIONS and params.get("IndexName"):
            arn += "/index/" + params["IndexName"]
        checks = [(operation, arn)]
    else:
        for key in RESOURCE_PARAMETERS:
            if key in params:
                checks = [(operation, params[key])]
                break
    # A call naming nothing (ListTables, or a malformed batch) is checked on "*", as AWS does
    # for actions without resource-level permissions.
    if not checks:
        checks = [(operation, "*")]
    unique = []
    for check in checks:
        if check not in unique:
            unique.append(check)
    return unique


def install():
    """Makes moto (in this process) authorise DynamoDB calls as AWS does: see the module's
    docstring. Authentication is moto's (SigV4 with keys made by its IAM API); enforcement
    follows moto's INITIAL_NO_AUTH_ACTION_COUNT as for every other service."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import AccessDeniedError, InvalidClientTokenIdError, JsonRESTError, SignatureDoesNotMatchError
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.access_control import IAMRequest

    class DynamoDBAuthError(JsonRESTError):
        code = 400  # DynamoDB answers its authorisation errors with 400

        def __init__(self, kind, message):
            super().__init__("com.amazon.coral.service#" + kind, message)
            self.content_type = "application/x-amz-json-1.0"

    def authorize(self, resource="*"):
        if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
            ActionAuthenticatorMixin.request_count += 1
            return
        if "Authorization" not in self.headers:
            raise DynamoDBAuthError("MissingAuthenticationTokenException", "Request is missing Authentication Token")
        checks = dynamodb_checks(self._get_action(), self.body or {}, self.partition, self.region, self.current_account)
        query = urllib.parse.urlparse(self.uri).query
        path = self.raw_path + ("?" + query if query else "")

        def iam_request(action):
            return IAMRequest(
                account_id=self.current_account, method=self.method, path=path, data=self.data,
                body=self.raw_body, headers=self.headers, action=action,
            )

        try:
            signed = iam_request(checks[0][0])
            signed.check_signature()
            for action, arn in checks:
                request = signed if action == checks[0][0] else iam_request(action)
                try:
                    request.check_action_permitted(arn)
                except AccessDeniedError as denied:
                    # moto's message is "User: <arn> is not authorized to perform: <action>".
                    raise DynamoDBAuthError(
                        "AccessDeniedException",
                        f"{denied.message} on resource: {arn} because no identity-based policy allows the dynamodb:{action} action",
                    ) from None
        except InvalidClientTokenIdError:
            raise DynamoDBAuthError("UnrecognizedClientException", "The security token included in the request is invalid.") from None
        except SignatureDoesNotMatchError:
            raise DynamoDBAuthError(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            ) from None

    DynamoHandler._authenticate_and_authorize_normal_action = authorize


def serve(host, port):
    """tools/dynamodb_server.py (its patches apply on import) with install() and IAM enforced
    from the first request: nothing is answered without a key made through moto's IAM API,
    except the few requests this tool opens with /moto-api/reset-auth to make its admin."""
    from moto import settings

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    import dynamodb_server

    install()
    sys.argv = [sys.argv[0], host, str(port)]
    dynamodb_server.main()


# ============================================================================================
# 2. The template's policies, resolved to local values
# ============================================================================================

PSEUDO_ACCOUNT = "123456789012"  # moto's default account, and the ARNs' account
STACK_NAME = "local"
# Managed policies SAM attaches that grant only what the local stack has no server for.
LOGS_ONLY_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "logs:CreateLogGroup, logs:CreateLogStream, logs:PutLogEvents",
    # SAM attaches it with the Tracing property (PassThrough included): X-Ray writes only.
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": "xray:PutTraceSegments, xray:PutTelemetryRecords, xray:GetSampling*",
}


class ToolError(Exception):
    pass


class Resolver:
    """CloudFormation's intrinsic functions over a template, with local values: parameters at
    their defaults, conditions evaluated at them, the table and the secret as local ARNs."""

    def __init__(self, template, table, region, account):
        self.template = template
        self.region = region
        self.account = account
        self.partition = "aws"
        self.table = table
        self.parameters = {}
        for name, spec in (template.get("Parameters") or {}).items():
            if "Default" not in spec:
                raise ToolError(f"parameter {name} has no default: give the tool a value for it")
            value = spec["Default"]
            if spec.get("Type", "").startswith("List<") or spec.get("Type") == "CommaDelimitedList":
                value = [v.strip() for v in str(value).split(",")] if not isinstance(value, list) else value
            else:
                value = str(value) if not isinstance(value, bool) else str(value).lower()
            self.parameters[name] = value
        self.pseudo = {
            "AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": self.partition,
            "AWS::StackName": STACK_NAME, "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{STACK_NAME}/local",
        }
        self.conditions = {}

    # -- values of resources --------------------------------------------------------------

    def _resource(self, name):
        resources = self.template.get("Resources", {})
        if name not in resources:
            raise ToolError(f"reference to unknown resource or parameter {name}")
        return resources[name]

    def ref(self, name):
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        kind = self._resource(name)["Type"]
        if kind == "AWS::DynamoDB::Table":
            return self.table_name(name)
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:{self.partition}:secretsmanager:{self.region}:{self.account}:secret:{STACK_NAME}-{name}-AbCdEf"
        raise ToolError(f"no local value for Ref {name} ({kind}): add one to iam_enforce.Resolver")

    def get_att(self, name, attribute):
        kind = self._resource(name)["Type"]
        if kind == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{self.table_name(name)}"
        if kind == "AWS::SecretsManager::Secret" and attribute == "Id":
            return self.ref(name)
        raise ToolError(f"no local value for Fn::GetAtt {name}.{attribute} ({kind}): add one to iam_enforce.Resolver")

    def table_name(self, logical):
        tables = [n for n, r in self.template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
        if tables != [logical]:
            raise ToolError(f"the template has tables {tables}: the tool maps exactly one to the local table")
        return self.table

    # -- conditions -----------------------------------------------------------------------

    def condition(self, name):
        if name not in self.conditions:
            spec = (self.template.get("Conditions") or {}).get(name)
            if spec is None:
                raise ToolError(f"unknown condition {name}")
            self.conditions[name] = bool(self.evaluate_condition(spec))
        return self.conditions[name]

    def evaluate_condition(self, node):
        if isinstance(node, dict) and len(node) == 1:
            (key, arg), = node.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.evaluate_condition(arg[0])
            if key == "Fn::And":
                return all(self.evaluate_condition(a) for a in arg)
            if key == "Fn::Or":
                return any(self.evaluate_condition(a) for a in arg)
        raise ToolError(f"cannot evaluate condition {node!r}")

    # -- intrinsic functions --------------------------------------------------------------

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(n) for n in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Join":
                delimiter, values = arg
                return delimiter.join(str(v) for v in self.resolve(values))
            if key == "Fn::Select":
                index, values = arg
                return self.resolve(values)[int(self.resolve(index))]
            if key == "Fn::Split":
                delimiter, value = arg
                return str(self.resolve(value)).split(delimiter)
            if key == "Fn::FindInMap":
                mapping, first, second = (self.resolve(a) for a in arg)
                return self.template["Mappings"][mapping][first][second]
            if key.startswith("Fn::") or key == "Condition":
                raise ToolError(f"intrinsic {key} is not resolved locally: add it to iam_enforce.Resolver")
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def one(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.get_att(*name.split(".", 1)))
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return re.sub(r"\$\{([^}]+)\}", one, text)


NO_VALUE = object()


def dynamodb_action_names():
    """The DynamoDB IAM action names, for matching the template's spelling case-insensitively
    as IAM does (moto's evaluator is case-sensitive)."""
    import botocore.session

    names = set(botocore.session.get_session().get_service_model("dynamodb").operation_names)
    names |= {"ConditionCheckItem", "PartiQLSelect", "PartiQLInsert", "PartiQLUpdate", "PartiQLDelete"}
    return {name.lower(): name for name in names}


def local_statement(statement, where, dynamodb_names):
    """A statement as moto must be given it, or a ToolError when moto would read it laxer than
    AWS (see the module's docstring)."""
    if "Condition" in statement:
        raise ToolError(
            f"{where}: a Condition ({json.dumps(statement['Condition'])}); moto ignores conditions when "
            "authorising a call, so locally the statement would apply unconditionally")
    if "NotResource" in statement:
        raise ToolError(f"{where}: NotResource; moto treats such a statement as matching every resource")
    if "Principal" in statement or "NotPrincipal" in statement:
        raise ToolError(f"{where}: a Principal in an identity policy")
    statement = dict(statement)
    for key in ("Action", "NotAction"):
        if key in statement:
            actions = statement[key] if isinstance(statement[key], list) else [statement[key]]
            fixed = []
            for action in actions:
                service, _, name = action.partition(":")
                if service.lower() == "dynamodb" and name.lower() in dynamodb_names:
                    action = "dynamodb:" + dynamodb_names[name.lower()]
                elif service != service.lower():
                    action = service.lower() + ":" + name
                fixed.append(action)
            statement[key] = fixed
    return statement


def actions_of(statement):
    actions = statement.get("Action", statement.get("NotAction", []))
    return actions if isinstance(actions, list) else [actions]


def grants_dynamodb(statement):
    """Whether a statement concerns DynamoDB (the one service the local stack's functions call);
    a NotAction statement is taken as concerning everything."""
    return "NotAction" in statement or any(
        action == "*" or action.lower().startswith("dynamodb:") for action in actions_of(statement)
    )


def function_grants(template, table, region, account):
    """[{logical, binary, policies: {name: document}, skipped: [text]}] for every Lambda
    function of the expanded template."""
    from check_deploy import expand

    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    expanded = expand(template)
    # expand() resolved nothing but SAM's own constructs: intrinsics stay, to resolve here.
    resolver = Resolver(expanded, table, region, account)
    binaries = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            code_uri = str(resource["Properties"].get("CodeUri", ""))
            if not code_uri.startswith("functions/"):
                raise ToolError(f"{logical}: CodeUri {code_uri!r} is not functions/<binary>")
            binaries[logical] = pathlib.PurePosixPath(code_uri).name
    dynamodb_names = dynamodb_action_names()
    resources = expanded["Resources"]
    grants = []
    for logical, function in sorted(resources.items()):
        if function["Type"] != "AWS::Lambda::Function":
            continue
        if "Condition" in function and not resolver.condition(function["Condition"]):
            continue
        if logical not in binaries:
            raise ToolError(f"{logical}: a Lambda function that is no AWS::Serverless::Function with a CodeUri")
        role_ref = function["Properties"].get("Role")
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            raise ToolError(f"{logical}: its role {role_ref!r} is not a role of the template")
        role_name = role_ref["Fn::GetAtt"][0] if isinstance(role_ref["Fn::GetAtt"], list) else role_ref["Fn::GetAtt"].split(".")[0]
        role = resources[role_name]["Properties"]
        if "PermissionsBoundary" in role:
            raise ToolError(f"{logical}: a permissions boundary, which moto does not evaluate")
        documents, skipped = {}, []
        # A policy under a condition (AdminApi's) is an Fn::If around the whole policy.
        for policy in resolver.resolve(role.get("Policies") or []):
            documents[policy["PolicyName"]] = policy["PolicyDocument"]
        for name, resource in resources.items():  # AWS::IAM::Policy resources attached to the role
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_name} in resource["Properties"].get("Roles", []):
                documents[resource["Properties"]["PolicyName"]] = resource["Properties"]["PolicyDocument"]
        for arn in resolver.resolve(role.get("ManagedPolicyArns") or []):
            if arn in LOGS_ONLY_MANAGED_POLICIES:
                skipped.append(f"{arn.rsplit('/', 1)[-1]} ({LOGS_ONLY_MANAGED_POLICIES[arn]}: no local server)")
            else:
                raise ToolError(f"{logical}: managed policy {arn}, whose statements this tool does not know")
        policies = {}
        for name, document in documents.items():
            document = resolver.resolve(document)
            statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
            kept = []
            for statement in statements:
                if not grants_dynamodb(statement):
                    # Secrets Manager and SES: the local stack reads key files and writes an
                    # outbox, so no function calls them here. Left out, a call would be refused
                    # (stricter than AWS, never laxer). tools/check_deploy.py checks offline
                    # which secret each function may read; the SES statement's ses:FromAddress
                    # condition is checked by no tool (template.yaml alone holds it).
                    skipped.append(f"{name}: {', '.join(actions_of(statement))} (no local server)")
                    continue
                kept.append(local_statement(statement, f"{logical} policy {name}", dynamodb_names))
            if kept:
                policies[name] = {"Version": "2012-10-17", "Statement": kept}
        grants.append({"logical": logical, "binary": binaries[logical], "policies": policies, "skipped": skipped})
    missing = set(binaries) - {g["logical"] for g in grants}
    if missing:
        raise ToolError(f"functions the expanded template lost: {sorted(missing)}")
    return grants


# ============================================================================================
# 3. The users in moto, and the credentials file
# ============================================================================================

ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# The requests the bootstrap sends unauthenticated: CreateUser, PutUserPolicy, CreateAccessKey.
BOOTSTRAP_REQUESTS = 3


def client(service, endpoint, region, key):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key[0], aws_secret_access_key=key[1],
        config=Config(retries={"max_attempts": 1}),
    )


def error_code(error):
    return error.response.get("Error", {}).get("Code", "")


def moto_reset_auth(endpoint, count):
    """moto's own switch (POST /moto-api/reset-auth, what its set_initial_no_auth_action_count
    uses in server mode): the next `count` authorised requests pass without a key, every later
    one needs one. Answers the previous setting."""
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/moto-api/reset-auth", data=str(count).encode(), method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]


def bootstrap_admin(endpoint, region):
    """An admin user made in the few requests moto lets through unauthenticated; then proof
    that enforcement is on (an unknown key is refused). Answers (access key, secret)."""
    from botocore.exceptions import ClientError

    previous = moto_reset_auth(endpoint, BOOTSTRAP_REQUESTS)
    anonymous = client("iam", endpoint, region, ("bootstrap", "bootstrap"))
    name = "admin-" + secrets.token_hex(4)
    try:
        anonymous.create_user(UserName=name)
        anonymous.put_user_policy(UserName=name, PolicyName="everything", PolicyDocument=json.dumps(ADMIN_POLICY))
        made = anonymous.create_access_key(UserName=name)["AccessKey"]
    except ClientError as error:
        raise ToolError(f"making the admin user in moto's unauthenticated requests failed (another client used them?): {error}")
    try:
        anonymous.list_users()
    except ClientError as error:
        if error_code(error) != "InvalidClientTokenId":
            raise
    else:
        raise ToolError("moto answered an unknown key after the bootstrap: IAM is not enforced")
    return (made["AccessKeyId"], made["SecretAccessKey"]), previous


def probe_server(endpoint, region, account, iam, admin):
    """Proof that the server authorises DynamoDB as AWS does (install()), not as stock moto
    does: a user allowed DescribeTable and GetItem on one table's ARN may DescribeTable it and
    run a TransactGetItems on it (stock moto: AccessDenied for both), and is refused another
    table with a JSON AccessDeniedException."""
    from botocore.exceptions import ClientError

    user, table = "iam-probe-" + secrets.token_hex(4), "iam-probe-" + secrets.token_hex(4)
    arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    iam.create_user(UserName=user)
    try:
        iam.put_user_policy(UserName=user, PolicyName="probe", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["dynamodb:DescribeTable", "dynamodb:GetItem"], "Resource": arn}],
        }))
        made = iam.create_access_key(UserName=user)["AccessKey"]
        dynamodb = client("dynamodb", endpoint, region, (made["AccessKeyId"], made["SecretAccessKey"]))
        outcomes = {}
        for label, call in (
            ("DescribeTable on the granted table", lambda: dynamodb.describe_table(TableName=table)),
            ("TransactGetItems on the granted table", lambda: dynamodb.transact_get_items(
                TransactItems=[{"Get": {"TableName": table, "Key": {"PK": {"S": "x"}}}}])),
            ("DescribeTable on another table", lambda: dynamodb.describe_table(TableName=table + "-other")),
        ):
            try:
                call()
                outcomes[label] = "allowed"
            except ClientError as error:
                outcomes[label] = error_code(error) or str(error)
        wanted = {
            "DescribeTable on the granted table": "ResourceNotFoundException",
            "TransactGetItems on the granted table": "ResourceNotFoundException",
            "DescribeTable on another table": "AccessDeniedException",
        }
        if outcomes != wanted:
            raise ToolError(
                "the server does not authorise DynamoDB as AWS does (is it stock moto? run it with "
                f"`iam_enforce.py serve HOST PORT`, or call iam_enforce.install() in it): got {outcomes}, expected {wanted}")
    finally:
        # Its key and policy go; the user stays: moto's state API (/moto-api/data.json, which the
        # mailer tests read) fails on a deleted user it still keeps track of.
        for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        for policy in iam.list_user_policies(UserName=user)["PolicyNames"]:
            iam.delete_user_policy(UserName=user, PolicyName=policy)


def recreate_user(iam, name):
    """The user `name` with no policy and no key (an earlier run's is removed first)."""
    try:
        for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
            iam.delete_user_policy(UserName=name, PolicyName=policy)
        iam.delete_user(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        pass
    iam.create_user(UserName=name)


def write_credentials(path, endpoint, profiles):
    lines = [
        f"# Written by tools/iam_enforce.py for the moto server at {endpoint}: one profile per",
        "# function, named as its binary, holding the keys of an IAM user with exactly the policy",
        "# template.yaml gives that function; [admin] may do anything (the tests' own profile).",
        "",
    ]
    for name, (key, secret) in profiles.items():
        lines += [f"[{name}]", f"aws_access_key_id = {key}", f"aws_secret_access_key = {secret}", ""]
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: readable by its owner only
        handle.write("\n".join(lines))
    os.replace(temporary, path)


def cargo_profile_problems(grants):
    """Binaries whose `[workspace.metadata.lambda.bin.<name>.env]` in Cargo.toml does not set
    AWS_PROFILE to their own name (cargo lambda watch gives each function that env)."""
    with open(ROOT / "Cargo.toml", "rb") as handle:
        bins = tomllib.load(handle).get("workspace", {}).get("metadata", {}).get("lambda", {}).get("bin", {})
    problems = []
    for grant in grants:
        got = bins.get(grant["binary"], {}).get("env", {}).get("AWS_PROFILE")
        if got != grant["binary"]:
            problems.append(f"Cargo.toml [workspace.metadata.lambda.bin.{grant['binary']}.env] AWS_PROFILE is {got!r}, expected {grant['binary']!r}")
    return problems


def describe(statement, table_arn):
    actions = statement.get("Action") or ["NOT " + a for a in statement.get("NotAction", [])]
    actions = actions if isinstance(actions, list) else [actions]
    resources = statement.get("Resource", "*")
    resources = resources if isinstance(resources, list) else [resources]
    shown = ["table" if r == table_arn else r.split(":", 5)[-1] if r.startswith("arn:") else r for r in resources]
    effect = "" if statement.get("Effect") == "Allow" else statement.get("Effect", "?").upper() + " "
    return f"{effect}{', '.join(actions)} on {', '.join(shown)}"


def configure(endpoint, table, region, credentials_file, template=None, quiet=False):
    """Everything part 2 and 3 of the module's docstring say; answers the grants."""
    from check_deploy import load_yaml

    template = template if template is not None else load_yaml(ROOT / "template.yaml")
    admin, previous = bootstrap_admin(endpoint, region)
    iam = client("iam", endpoint, region, admin)
    account = client("sts", endpoint, region, admin).get_caller_identity()["Account"]
    grants = function_grants(template, table, region, account)
    probe_server(endpoint, region, account, iam, admin)
    profiles = {}
    for grant in grants:
        recreate_user(iam, grant["binary"])
        for name, document in grant["policies"].items():
            iam.put_user_policy(UserName=grant["binary"], PolicyName=name, PolicyDocument=json.dumps(document))
        made = iam.create_access_key(UserName=grant["binary"])["AccessKey"]
        profiles[grant["binary"]] = (made["AccessKeyId"], made["SecretAccessKey"])
    if "admin" in profiles:
        raise ToolError("a function's binary is named admin, the tests' profile")
    profiles["admin"] = admin
    write_credentials(credentials_file, endpoint, profiles)
    if not quiet:
        table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
        print(f"iam_enforce: moto at {endpoint} enforces IAM (unauthenticated requests before: {previous}); "
              f"DynamoDB authorised per table and per transaction item (probe passed)")
        print(f"iam_enforce: {credentials_file}: {len(grants)} function profiles and [admin]; 'table' = {table_arn}")
        width = max(len(g["binary"]) for g in grants)
        for grant in grants:
            granted = [describe(s, table_arn) for d in grant["policies"].values() for s in d["Statement"]]
            print(f"  {grant['binary']:<{width}}  {'; '.join(granted) or '(nothing)'}")
        skipped = sorted({s for g in grants for s in g["skipped"]})
        if skipped:
            print(f"iam_enforce: not created locally: {', '.join(skipped)}")
    return grants


# ============================================================================================
# 4. Self-test
# ============================================================================================


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(command, port, log):
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ToolError(f"{command} ended with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    stop_server(process)
    raise ToolError(f"{command} did not listen on {port}")


def stop_server(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def self_test():
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    from check_deploy import load_yaml

    region, table, other = "us-east-1", "e2e-selftest", "another-table"
    failures = []
    work = pathlib.Path(tempfile.mkdtemp(prefix="iam-enforce-"))
    credentials = work / "credentials"
    log = open(work / "server.log", "w")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    servers = []

    def outcome(call):
        try:
            call()
            return "allowed"
        except ClientError as error:
            return error_code(error) or "?"

    def expect(label, call, wanted):
        got = outcome(call)
        if got != wanted:
            failures.append(f"{label}: {got}, expected {wanted}")
        else:
            print(f"iam_enforce: self-test: {label}: {got}")

    def dynamodb(profile):
        # As an SDK picks a profile: AWS_SHARED_CREDENTIALS_FILE + the profile's name.
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
        os.environ["AWS_CONFIG_FILE"] = os.devnull
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            os.environ.pop(name, None)
        session = boto3.Session(profile_name=profile, region_name=region)
        return session.client("dynamodb", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))

    key = {"PK": {"S": "user#1"}, "SK": {"S": "profile"}}
    update = {"TableName": table, "Key": key, "UpdateExpression": "SET n = :n", "ExpressionAttributeValues": {":n": {"N": "1"}}}
    try:
        servers.append(start_server(["nice", "-n", "19", sys.executable, __file__, "serve", "127.0.0.1", str(port)], port, log))
        template = load_yaml(ROOT / "template.yaml")
        # The deploy review's bug, put back in a copy of the template: password change granted
        # only BatchGetItem and UpdateItem (its throttle record needs GetItem, PutItem, DeleteItem).
        buggy = copy.deepcopy(template)
        for policy in buggy["Resources"]["PasswordChangeFunction"]["Properties"]["Policies"]:
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if any(str(action).startswith("dynamodb:") for action in statement.get("Action", [])):
                    statement["Action"] = ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"]
        configure(endpoint, table, region, credentials, buggy)

        admin = dynamodb("admin")
        for name in (table, other):
            admin.create_table(
                TableName=name, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}])
            admin.put_item(TableName=name, Item=dict(key, n={"N": "0"}))
        expect("admin: ListTables", admin.list_tables, "allowed")
        expect("admin: GetItem on another table", lambda: admin.get_item(TableName=other, Key=key), "allowed")

        change = dynamodb("password-change")
        expect("password-change: GetItem (the deploy review's bug)", lambda: change.get_item(TableName=table, Key=key), "AccessDeniedException")
        expect("password-change: PutItem", lambda: change.put_item(TableName=table, Item=key), "AccessDeniedException")
        expect("password-change: DeleteItem", lambda: change.delete_item(TableName=table, Key=key), "AccessDeniedException")
        expect("password-change: BatchGetItem", lambda: change.batch_get_item(RequestItems={table: {"Keys": [key]}}), "allowed")
        expect("password-change: UpdateItem", lambda: change.update_item(**update), "allowed")
        expect("password-change: TransactWriteItems with an Update (AWS checks UpdateItem)",
               lambda: change.transact_write_items(TransactItems=[{"Update": update}]), "allowed")
        expect("password-change: TransactWriteItems with an Update and a Put (PutItem not granted)",
               lambda: change.transact_write_items(TransactItems=[{"Update": update}, {"Put": {"TableName": table, "Item": dict(key, SK={"S": "other"})}}]),
               "AccessDeniedException")
        expect("password-change: TransactWriteItems with a ConditionCheck (ConditionCheckItem not granted)",
               lambda: change.transact_write_items(TransactItems=[{"Update": update}, {"ConditionCheck": {
                   "TableName": table, "Key": dict(key, SK={"S": "other"}), "ConditionExpression": "attribute_not_exists(PK)"}}]),
               "AccessDeniedException")
        expect("password-change: TransactGetItems (GetItem not granted)",
               lambda: change.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}}]), "AccessDeniedException")
        expect("password-change: UpdateItem on another table", lambda: change.update_item(**dict(update, TableName=other)), "AccessDeniedException")
        expect("password-change: BatchGetItem over its table and another",
               lambda: change.batch_get_item(RequestItems={table: {"Keys": [key]}, other: {"Keys": [key]}}), "AccessDeniedException")

        login = dynamodb("login")
        expect("login: GetItem", lambda: login.get_item(TableName=table, Key=key), "allowed")
        expect("login: TransactGetItems (GetItem granted)",
               lambda: login.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}}]), "allowed")
        expect("login: GetItem on another table", lambda: login.get_item(TableName=other, Key=key), "AccessDeniedException")
        expect("login: BatchGetItem (not granted)", lambda: login.batch_get_item(RequestItems={table: {"Keys": [key]}}), "AccessDeniedException")
        expect("login: Scan (not granted)", lambda: login.scan(TableName=table), "AccessDeniedException")
        expect("login: ListTables (no function may)", login.list_tables, "AccessDeniedException")

        deleting = dynamodb("user-delete")
        expect("user-delete: BatchWriteItem", lambda: deleting.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": dict(key, SK={"S": "gone"})}}]}), "allowed")
        expect("user-delete: TransactWriteItems with Deletes and a Put",
               lambda: deleting.transact_write_items(TransactItems=[
                   {"Delete": {"TableName": table, "Key": dict(key, SK={"S": "a"})}},
                   {"Put": {"TableName": table, "Item": dict(key, SK={"S": "b"})}}]), "allowed")
        expect("user-delete: TransactWriteItems with an Update (UpdateItem not granted)",
               lambda: deleting.transact_write_items(TransactItems=[{"Update": update}]), "AccessDeniedException")
        expect("well-known: GetItem (no table access at all)", lambda: dynamodb("well-known").get_item(TableName=table, Key=key), "AccessDeniedException")

        os.environ.pop("AWS_PROFILE", None)
        unknown = client("dynamodb", endpoint, region, ("local", "local"))
        expect("a key moto's IAM did not make (the old dummy one)", unknown.list_tables, "UnrecognizedClientException")
        login_key = boto3.Session(profile_name="login").get_credentials()
        forged = client("dynamodb", endpoint, region, (login_key.access_key, "not-the-secret"))
        expect("login's key with a wrong secret", lambda: forged.get_item(TableName=table, Key=key), "InvalidSignatureException")

        # The refusal follows the template: template.yaml as it is grants password change its
        # throttle record's calls.
        configure(endpoint, table, region, credentials, template, quiet=True)
        fixed = dynamodb("password-change")
        expect("password-change under template.yaml: GetItem",
               lambda: fixed.get_item(TableName=table, Key=key), "allowed")
        expect("password-change under template.yaml: DeleteItem",
               lambda: fixed.delete_item(TableName=table, Key=dict(key, SK={"S": "gone"})), "allowed")

        # A statement moto could only read laxer than AWS stops the tool.
        conditional = copy.deepcopy(template)
        conditional["Resources"]["LoginFunction"]["Properties"]["Policies"][1]["Statement"][0]["Condition"] = {
            "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["x"]}}
        try:
            function_grants(conditional, table, region, PSEUDO_ACCOUNT)
            failures.append("a policy with a Condition was accepted")
        except ToolError as error:
            print(f"iam_enforce: self-test: a Condition is refused: {str(error)[:90]}...")

        # Stock moto (no install()) is detected and refused.
        stock_port = free_port()
        servers.append(start_server(
            ["nice", "-n", "19", str(pathlib.Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(stock_port)],
            stock_port, log))
        try:
            configure(f"http://127.0.0.1:{stock_port}", table, region, work / "stock-credentials", template, quiet=True)
            failures.append("stock moto was accepted")
        except ToolError as error:
            print(f"iam_enforce: self-test: stock moto is refused: {str(error)[:100]}...")
    finally:
        for server in servers:
            stop_server(server)
        log.close()
    if failures:
        print(f"iam_enforce: self-test: server log in {work}/server.log", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return failures


# ============================================================================================


def main(argv):
    if argv[:1] == ["serve"]:
        if len(argv) != 3:
            print("usage: iam_enforce.py serve HOST PORT", file=sys.stderr)
            return 2
        serve(argv[1], int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description="Local IAM users and profiles from template.yaml (see the module's docstring).")
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("endpoint", nargs="?", help="the moto server, e.g. http://127.0.0.1:4566 (run with `iam_enforce.py serve`)")
    parser.add_argument("table", nargs="?", help="the local table's name (the template's AccountsTable)")
    parser.add_argument("region", nargs="?", help="the region the functions sign for (AWS_REGION)")
    parser.add_argument("credentials_file", nargs="?", help="the shared credentials file to write")
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--require-cargo-profiles", action="store_true",
                        help="fail unless Cargo.toml gives each binary AWS_PROFILE = its name")
    args = parser.parse_args(argv)
    try:
        if args.self_test:
            failures = self_test()
            for failure in failures:
                print(f"iam_enforce: self-test FAILED: {failure}", file=sys.stderr)
            if not failures:
                print("iam_enforce: self-test: all passed")
            return 1 if failures else 0
        if not all((args.endpoint, args.table, args.region, args.credentials_file)):
            parser.error("ENDPOINT TABLE REGION CREDENTIALS_FILE are required (or --self-test)")
        from check_deploy import load_yaml

        grants = configure(args.endpoint, args.table, args.region, args.credentials_file, load_yaml(args.template))
        problems = cargo_profile_problems(grants)
        for problem in problems:
            print(f"iam_enforce: {'' if args.require_cargo_profiles else 'warning: '}{problem}", file=sys.stderr)
        return 1 if problems and args.require_cargo_profiles else 0
    except ToolError as error:
        print(f"iam_enforce: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
