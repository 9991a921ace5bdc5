#!/usr/bin/env bash
# `make delete ENV=dev|prod` (default dev): `sam delete` of that environment's stack (name from
# samconfig.toml), with the pinned SAM CLI; it asks before deleting. Removed: the functions, the
# API and its stage, the web ACL, the alarms and their topic, the dashboard, every log group of
# the stack. Kept on purpose (DeletionPolicy Retain): the DynamoDB table and the three secrets (the
# signing key, the public keys, the social providers' client secrets), so a mistaken delete loses
# no user and no value an operator put, and API Gateway's logging
# role if this stack created it (the region's API Gateway account setting keeps pointing at it;
# other APIs' logs depend on it).
#
# Deploy review L10: a retained resource outlives the stack, and a later deploy of the same stack
# name creates NEW ones (an empty table, a new secret), so dev deploy/delete cycles pile them up.
# DeletionPolicy takes a parameter only under the AWS::LanguageExtensions transform
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/function-refs-in-policy-attributes.html),
# which this template does not use (the book's "Deploying to AWS", Tearing down, says why). So before deleting,
# this script lists what will stay, with the exact commands that remove each for good.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ENV="$(sam_environment "${ENV:-dev}")"
STACK_NAME="$(python - "$ENV" <<'PY'
import sys, tomllib
config = tomllib.load(open("samconfig.toml", "rb"))[sys.argv[1]]
print(config.get("deploy", {}).get("parameters", {}).get("stack_name") or config["global"]["parameters"]["stack_name"])
PY
)"

say "what stack $STACK_NAME keeps after the delete (DeletionPolicy Retain)"
python - "$STACK_NAME" <<'PY' || say "(could not list the stack's retained resources; is it deployed, are AWS credentials set?)"
import sys
import boto3

stack = sys.argv[1]
commands = {
    "AWS::DynamoDB::Table": lambda name: [
        f"aws dynamodb update-table --table-name {name} --no-deletion-protection-enabled",
        f"aws dynamodb delete-table --table-name {name}",
    ],
    "AWS::SecretsManager::Secret": lambda arn: [
        f"aws secretsmanager delete-secret --secret-id {arn} --force-delete-without-recovery",
    ],
    "AWS::IAM::Role": lambda name: [
        "aws apigateway get-account   # only once cloudwatchRoleArn names another role, or no API in the region logs:",
        f"aws iam detach-role-policy --role-name {name} --policy-arn arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        f"aws iam delete-role --role-name {name}",
    ],
}
retained = {"AccountsTable", "SigningKeySecret", "PublicKeysSecret", "SocialClientSecrets", "ApiGatewayLogRole"}
paginator = boto3.client("cloudformation").get_paginator("list_stack_resources")
for page in paginator.paginate(StackName=stack):
    for resource in page["StackResourceSummaries"]:
        if resource["LogicalResourceId"] in retained and resource["ResourceType"] in commands:
            print(f"  {resource['LogicalResourceId']}: {resource['PhysicalResourceId']}")
            for command in commands[resource["ResourceType"]](resource["PhysicalResourceId"]):
                print(f"      {command}")
print("  A deploy after this delete starts from an EMPTY table and a NEW secret (new signing key: every")
print("  token and mailed link of before is invalid), unless you import the retained ones.")
PY

say "sam delete ($ENV, stack $STACK_NAME)"
sam delete --config-env "$ENV"
