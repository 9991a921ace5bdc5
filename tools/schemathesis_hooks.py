"""Schemathesis hooks for `make test` (loaded through SCHEMATHESIS_HOOKS).

cargo lambda's emulator cannot put a request body that is not UTF-8 text into an API Gateway
event: it answers its own 500 before any function runs. API Gateway base64-encodes such bodies
instead, and the handler tests cover that path (`events`-shaped requests with
`isBase64Encoded`). Generated bodies are therefore kept to valid UTF-8 here.
"""

import schemathesis


def _is_text(value):
    if isinstance(value, (bytes, bytearray)):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return False
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


@schemathesis.hook
def filter_body(context, body):
    return _is_text(body)
