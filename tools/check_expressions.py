"""Replays every request the store tests sent (logged by shared/tests/dynamo_store.rs) against
dynalite, which validates expressions as DynamoDB does where moto lets malformed ones through:
undefined or unused names and values, reserved words, syntax. dynalite has no transactions, so
each item of a TransactWriteItems is sent on its own (a condition check as a conditional
delete). A ValidationException fails; a failed condition or success both mean the request was
well formed. The table is created as the code defines it (`account-admin table-definition`), its
index included. Usage: python check_expressions.py REQUESTS.jsonl DYNALITE_PORT TABLE_DEFINITION_JSON
"""

import json
import re
import sys

import boto3
from botocore.exceptions import ClientError

TABLE = "expressions"


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def main():
    log, port, definition_file = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(definition_file) as handle:
        definition = json.load(handle)
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=definition["AttributeDefinitions"],
        KeySchema=definition["KeySchema"],
        GlobalSecondaryIndexes=definition.get("GlobalSecondaryIndexes", []),
        BillingMode=definition["BillingMode"],
    )
    client.get_waiter("table_exists").wait(TableName=TABLE)

    calls = []
    with open(log) as lines:
        for line in lines:
            entry = json.loads(line)
            operation = entry["operation"].rsplit(".", 1)[-1]
            body = entry["body"]
            if operation in ("CreateTable", "DescribeTable", "UpdateTimeToLive", "DescribeTimeToLive"):
                continue
            if operation == "TransactWriteItems":
                for item in body["TransactItems"]:
                    (kind, request), = item.items()
                    single = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "DeleteItem"}[kind]
                    calls.append((single, request))
            elif operation in ("BatchGetItem", "BatchWriteItem"):
                for requests in body["RequestItems"].values():
                    calls.append((operation, {"RequestItems": {TABLE: requests}}))
            else:
                calls.append((operation, body))

    failures, expressions = [], 0
    for operation, request in calls:
        request = dict(request)
        request.pop("ReturnValuesOnConditionCheckFailure", None)  # newer than dynalite
        if "TableName" in request:
            request["TableName"] = TABLE
        expressions += sum(1 for key in request if key.endswith("Expression"))
        try:
            getattr(client, snake(operation))(**request)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code != "ConditionalCheckFailedException":
                failures.append(f"{operation}: {code}: {error.response['Error'].get('Message')}\n  {json.dumps(request)}")
    if failures:
        print("dynalite refused requests the store sends:\n" + "\n".join(failures))
        sys.exit(1)
    print(f"check_expressions: {len(calls)} requests ({expressions} expressions) accepted by dynalite")


if __name__ == "__main__":
    main()
