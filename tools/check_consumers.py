"""Other services verify the stack's ES256 tokens with standard libraries, configured as their
documentation shows, and none of them may take a refresh token for an access token (RFC 8725
§3.11-3.12; contract §2). Run by `make test` against its ES256 stack (JWT_AUDIENCE set):

    python tools/check_consumers.py <API URL> <audience>

It joins a user, reads the discovery document and the key set the stack publishes, and hands
the user's access and refresh tokens to PyJWT (Python) and jose (Node.js, tools/consumers/):
each consumer must accept the access token and refuse the refresh token. Exit status 1 names
every consumer that got it wrong.
"""

import json
import pathlib
import secrets
import subprocess
import sys
import urllib.request

import jwt  # PyJWT

ROOT = pathlib.Path(__file__).resolve().parent.parent
JOSE = ROOT / ".tools" / "consumers"


def request(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data else {}
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers)) as answer:
        return json.load(answer)


def pyjwt_verdicts(jwks_uri, issuer, audience, tokens):
    """PyJWT as its documentation's "retrieve RSA/EC signing keys from a JWKS endpoint" shows."""
    keys = jwt.PyJWKClient(jwks_uri)
    verdicts = {}
    for name, token in tokens.items():
        try:
            key = keys.get_signing_key_from_jwt(token)
            jwt.decode(token, key, algorithms=["ES256"], audience=audience, issuer=issuer)
            verdicts[name] = "accepted"
        except jwt.PyJWTError as error:
            verdicts[name] = f"{type(error).__name__}: {error}"
    return {"PyJWT (issuer, audience)": verdicts}


def jose_verdicts(jwks_uri, issuer, audience, tokens):
    given = json.dumps({"jwks_uri": jwks_uri, "issuer": issuer, "audience": audience, "tokens": tokens})
    # An ES module finds its packages beside itself: it runs from the folder jose is installed in.
    script = JOSE / "verify.mjs"
    script.write_text((ROOT / "tools" / "consumers" / "verify.mjs").read_text())
    answer = subprocess.run(["node", str(script)], input=given, capture_output=True, text=True, check=True)
    return json.loads(answer.stdout)


def main():
    api, audience = sys.argv[1].rstrip("/"), sys.argv[2]
    discovery = request("GET", f"{api}/account/.well-known/openid-configuration")
    issuer, jwks_uri = discovery["issuer"], discovery["jwks_uri"]
    email = f"consumer-{secrets.token_hex(6)}@example.com"
    password = "Consumer-check-" + secrets.token_hex(8)
    joined = request("POST", f"{api}/account/join/", {"email": email, "password1": password, "password2": password})
    tokens = {"access": joined["access"], "refresh": joined["refresh"]}
    verdicts = pyjwt_verdicts(jwks_uri, issuer, audience, tokens)
    verdicts.update(jose_verdicts(jwks_uri, issuer, audience, tokens))
    wrong = []
    for consumer, outcome in verdicts.items():
        for name, verdict in outcome.items():
            print(f"  {consumer:<28} {name:<8} {verdict}")
        if outcome["access"] != "accepted":
            wrong.append(f"{consumer} refused an access token")
        if outcome["refresh"] == "accepted":
            wrong.append(f"{consumer} ACCEPTED A REFRESH TOKEN as an access token")
    for problem in wrong:
        print(f"check_consumers: {problem}", file=sys.stderr)
    if wrong:
        sys.exit(1)
    print(f"check_consumers: {len(verdicts)} standard verifiers take access tokens and refuse refresh tokens")


if __name__ == "__main__":
    main()
