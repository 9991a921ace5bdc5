"""`make deploy`'s checks before anything is built (deploy review M1/M7): the parameters the
chosen samconfig.toml environment would deploy with, each failure with a clear message.

    predeploy_check.py ENV [PARAMS]       exit 1 and say why when the parameters are not deployable
    predeploy_check.py --merged ENV PARAMS  print samconfig's parameter_overrides for ENV with
                                          PARAMS (the user's `make deploy PARAMS='K=V ...'`)
                                          applied over them: `sam deploy --parameter-overrides`
                                          replaces samconfig's value rather than adding to it
    predeploy_check.py --self-test        the rules below on made-up parameter sets

The parameters are the template's defaults, then the environment's `parameter_overrides`
(samconfig.toml, read with tomllib), then PARAMS. The rules:
- prod must set, to real values, EmailFrom, SesIdentity, PasswordResetUrl, EmailConfirmUrl and
  AllowedOrigins (the template's defaults are placeholders or empty);
- with JwtAlgorithm=ES256, JwtIssuer or DomainName (the template's rule says the same, but only
  once CloudFormation evaluates it);
- no `http://` origin outside the dev environment, never `*`;
- in prod, no placeholder host (example.com, example.org, example.net and their subdomains,
  app.example.com included) in any address or URL;
- EmailFrom is SesIdentity itself or an address of that domain (SES sends only for a verified
  identity; the functions' IAM grant is on SesIdentity);
- HostedZoneId only with a DomainName;
- SocialProviders empty, or what the social functions take as SOCIAL_PROVIDERS
  (shared/src/social/settings.rs: they would not start with anything else).
"""

import json
import pathlib
import re
import shlex
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEV_ENVIRONMENTS = ("default", "dev")
PROD_REQUIRED = ("EmailFrom", "SesIdentity", "PasswordResetUrl", "EmailConfirmUrl", "AllowedOrigins")
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")
# Parameters whose value holds hosts (addresses, URLs, domains): none may be a placeholder in prod.
HOST_PARAMETERS = ("EmailFrom", "SesIdentity", "PasswordResetUrl", "EmailConfirmUrl", "AllowedOrigins", "AlarmEmail", "DomainName", "JwtIssuer")


class _IgnoreTags(yaml.SafeLoader):
    """Reads template.yaml's Parameters; CloudFormation's !Ref, !Sub ... are kept as plain values."""


_IgnoreTags.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_defaults(template_path=ROOT / "template.yaml"):
    with open(template_path, encoding="utf-8") as handle:
        parameters = yaml.load(handle, Loader=_IgnoreTags)["Parameters"]
    return {name: str(spec.get("Default", "")) for name, spec in parameters.items()}


def parse_overrides(text):
    """`K=V K2="a,b"` (SAM's parameter_overrides shorthand) as a dict, in order."""
    found = {}
    for item in shlex.split(text or ""):
        if "=" not in item:
            raise ValueError(f"not Key=Value: {item!r}")
        key, value = item.split("=", 1)
        found[key] = value
    return found


def format_overrides(values):
    """Back to SAM's shorthand, each value in double quotes (SAM CLI unquotes them, and `\\"`)."""
    return " ".join(f'{key}="{value.replace(chr(34), chr(92) + chr(34))}"' for key, value in values.items())


def samconfig_overrides(environment, samconfig_path=ROOT / "samconfig.toml"):
    with open(samconfig_path, "rb") as handle:
        config = tomllib.load(handle)
    if environment not in config:
        raise ValueError(f"samconfig.toml has no environment {environment!r}")
    return config[environment].get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")


def _hosts(value):
    """Host names in a parameter value: an address's domain, a URL's host, or a bare domain."""
    hosts = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        url = re.match(r"^[a-z][a-z0-9+.-]*://([^/:?#]+)", part, re.I)
        if url:
            hosts.append(url.group(1).lower())
        elif "@" in part:
            hosts.append(part.rsplit("@", 1)[1].lower())
        else:
            hosts.append(part.lower())
    return hosts


# SocialProviders becomes SOCIAL_PROVIDERS, which social login and connect read at each cold start
# and refuse (they then do not start) unless it follows shared/src/social/settings.rs's rules,
# restated here so that a deploy is refused first: a JSON object from provider name to settings.
SOCIAL_KEYS = {"kind", "client_id", "issuer", "tokeninfo_endpoint", "api_base", "app_id", "token_endpoint", "profile_endpoint"}
SOCIAL_URL_KEYS = ("issuer", "tokeninfo_endpoint", "api_base", "token_endpoint", "profile_endpoint")
SOCIAL_KINDS = ("oidc", "kakao", "naver")


def _social_url_allowed(url):
    """HTTPS, or plain HTTP to this machine only (settings.rs's is_allowed_url)."""
    if url.startswith("https://"):
        rest = url[len("https://"):]
        return bool(rest) and not rest.startswith("/")
    if not url.startswith("http://"):
        return False
    authority = re.split(r"[/?#]", url[len("http://"):], maxsplit=1)[0]
    host = authority.split("]")[0] + "]" if authority.startswith("[") else authority.split(":")[0]
    return host in ("127.0.0.1", "localhost", "[::1]")


def social_provider_problems(text):
    """Why the social functions would refuse `text` as SOCIAL_PROVIDERS ("" is no provider)."""
    if not text.strip():
        return []
    try:
        providers = json.loads(text)
    except ValueError as error:
        return [f"SocialProviders is not JSON ({error})"]
    if not isinstance(providers, dict):
        return ["SocialProviders must be a JSON object from provider name to its settings"]
    problems = []
    for name, entry in providers.items():
        where = f"SocialProviders: provider {name!r}"
        if not re.fullmatch(r"[a-z0-9-]{1,32}", name):
            problems.append(f"{where}: a name is 1 to 32 lowercase letters, digits and '-'")
        if not isinstance(entry, dict):
            problems.append(f"{where}: its settings must be a JSON object")
            continue
        unknown = sorted(set(entry) - SOCIAL_KEYS)
        if unknown:
            problems.append(f"{where}: unknown keys {unknown} (a client secret goes into the SocialClientSecrets secret, never here)")
        client_id = entry.get("client_id")
        if not isinstance(client_id, str) or not client_id.strip():
            problems.append(f"{where}: client_id (text, not blank) is required")
        kind = entry.get("kind")
        if kind is not None and kind not in SOCIAL_KINDS:
            problems.append(f"{where}: kind {kind!r} is none of {', '.join(SOCIAL_KINDS)}")
        kind = kind or (name if name in ("kakao", "naver") else "oidc")
        app_id = entry.get("app_id")
        if app_id is not None and (isinstance(app_id, bool) or not isinstance(app_id, int) or app_id < 0):
            problems.append(f"{where}: app_id must be a whole number")
        elif kind == "kakao" and app_id is None:
            problems.append(f"{where}: Kakao needs its numeric app_id")
        if kind == "oidc" and name != "google" and not entry.get("issuer"):
            problems.append(f"{where}: an OpenID Connect provider other than google needs its issuer")
        for key in SOCIAL_URL_KEYS:
            value = entry.get(key)
            if value is not None and not (isinstance(value, str) and _social_url_allowed(value)):
                problems.append(f"{where}: {key} must be an https:// URL")
    return problems


def _placeholder(host):
    return any(host == domain or host.endswith("." + domain) for domain in PLACEHOLDER_DOMAINS)


def problems_of(environment, values, explicit):
    """The reasons `values` (every parameter, defaults included) cannot be deployed to
    `environment`; `explicit` is the set of parameters samconfig or PARAMS set."""
    problems = []
    prod = environment == "prod"
    if prod:
        for name in PROD_REQUIRED:
            if name not in explicit or not values.get(name, "").strip():
                problems.append(f"{name} must be set for prod (samconfig.toml [prod.deploy.parameters] parameter_overrides, or PARAMS='{name}=...')")
    for name in HOST_PARAMETERS if prod else ():
        for host in _hosts(values.get(name, "")):
            if _placeholder(host):
                problems.append(f"{name}={values[name]!r} is a placeholder ({host}); prod needs your real value")
    origins = [o.strip() for o in values.get("AllowedOrigins", "").split(",") if o.strip()]
    for origin in origins:
        if origin == "*":
            problems.append("AllowedOrigins must not be '*' (the functions answer CORS with credentials for the listed origins only)")
        elif origin.lower().startswith("http://") and environment not in DEV_ENVIRONMENTS:
            problems.append(f"AllowedOrigins: {origin} is http://; only the dev environment may allow a plain-HTTP origin")
        elif not re.match(r"^https?://[^/]+$", origin):
            problems.append(f"AllowedOrigins: {origin!r} is not an origin (scheme://host[:port], no path, no trailing slash)")
    if values.get("JwtAlgorithm") == "ES256" and not values.get("JwtIssuer") and not values.get("DomainName"):
        problems.append("JwtAlgorithm=ES256 needs JwtIssuer (<ApiUrl>account, from a first deploy's outputs) or a DomainName")
    sender, identity = values.get("EmailFrom", ""), values.get("SesIdentity", "")
    if sender and identity:
        domain = sender.rsplit("@", 1)[-1].lower()
        if identity.lower() != sender.lower() and identity.lower() != domain:
            problems.append(f"EmailFrom {sender} is neither the SES identity {identity} nor an address of that domain: SES would refuse every mail")
    if values.get("HostedZoneId") and not values.get("DomainName"):
        problems.append("HostedZoneId is set without a DomainName: the DNS record would have nothing to point at")
    problems += social_provider_problems(values.get("SocialProviders", ""))
    return problems


def check(environment, params_text=""):
    defaults = template_defaults()
    configured = parse_overrides(samconfig_overrides(environment))
    given = parse_overrides(params_text)
    unknown = sorted((set(configured) | set(given)) - set(defaults))
    values = {**defaults, **configured, **given}
    problems = [f"{name} is not a parameter of template.yaml" for name in unknown]
    return problems + problems_of(environment, values, set(configured) | set(given))


def self_test():
    real = {
        "EmailFrom": "no-reply@mail.acme.test", "SesIdentity": "mail.acme.test",
        "PasswordResetUrl": "https://app.acme.test/#/reset/{uid}/{token}",
        "EmailConfirmUrl": "https://app.acme.test/#/verify/{key}", "AllowedOrigins": "https://app.acme.test",
    }
    defaults = {
        "EmailFrom": "no-reply@example.com", "SesIdentity": "example.com", "AllowedOrigins": "",
        "PasswordResetUrl": "https://app.example.com/#/reset/{uid}/{token}",
        "EmailConfirmUrl": "https://app.example.com/#/verify/{key}", "JwtAlgorithm": "HS256",
        "JwtIssuer": "", "DomainName": "", "HostedZoneId": "", "AlarmEmail": "", "SocialProviders": "",
    }
    cases = [
        ("prod with every real value", "prod", real, None),
        ("prod without EmailFrom", "prod", {k: v for k, v in real.items() if k != "EmailFrom"}, "EmailFrom must be set for prod"),
        ("prod without AllowedOrigins", "prod", {k: v for k, v in real.items() if k != "AllowedOrigins"}, "AllowedOrigins must be set for prod"),
        ("prod with the placeholder front end", "prod", dict(real, AllowedOrigins="https://app.example.com"), "is a placeholder (app.example.com)"),
        ("prod with a placeholder reset page", "prod", dict(real, PasswordResetUrl="https://app.example.com/#/r/{uid}/{token}"), "PasswordResetUrl="),
        ("prod with a placeholder alarm address", "prod", dict(real, AlarmEmail="ops@example.org"), "AlarmEmail="),
        ("an http origin in prod", "prod", dict(real, AllowedOrigins="https://app.acme.test,http://app.acme.test"), "only the dev environment may allow a plain-HTTP origin"),
        ("an http origin in dev", "dev", {"AllowedOrigins": "http://localhost:3000,http://127.0.0.1:3000"}, None),
        ("a wildcard origin", "dev", {"AllowedOrigins": "*"}, "must not be '*'"),
        ("an origin with a path", "dev", {"AllowedOrigins": "https://app.acme.test/"}, "is not an origin"),
        ("ES256 without an issuer", "dev", {"JwtAlgorithm": "ES256"}, "JwtAlgorithm=ES256 needs JwtIssuer"),
        ("ES256 with a custom domain", "dev", {"JwtAlgorithm": "ES256", "DomainName": "api.acme.test"}, None),
        ("a sender outside the SES identity", "prod", dict(real, EmailFrom="no-reply@other.test"), "neither the SES identity"),
        ("a hosted zone without a domain", "dev", {"HostedZoneId": "Z123"}, "HostedZoneId is set without a DomainName"),
        ("dev with the template's placeholders", "dev", {}, None),
        ("the three providers by their client ids", "prod", dict(real, SocialProviders=json.dumps({
            "google": {"client_id": "1-a.apps.googleusercontent.com"}, "kakao": {"client_id": "k", "app_id": 7},
            "naver": {"client_id": "n"}})), None),
        ("an OpenID Connect provider by its issuer", "dev", {"SocialProviders": '{"corp": {"client_id": "c", "issuer": "https://id.acme.test"}}'}, None),
        ("social providers that are not JSON", "dev", {"SocialProviders": "{google: {client_id: g}}"}, "SocialProviders is not JSON"),
        ("a list of social providers", "dev", {"SocialProviders": "[]"}, "must be a JSON object"),
        ("Kakao without its app id", "dev", {"SocialProviders": '{"kakao": {"client_id": "k"}}'}, "Kakao needs its numeric app_id"),
        ("a client secret among the providers", "dev", {"SocialProviders": '{"google": {"client_id": "g", "client_secret": "s"}}'}, "unknown keys ['client_secret']"),
        ("a provider without a client id", "dev", {"SocialProviders": '{"google": {"client_id": " "}}'}, "client_id (text, not blank) is required"),
        ("another provider without its issuer", "dev", {"SocialProviders": '{"corp": {"client_id": "c"}}'}, "needs its issuer"),
        ("a provider name in capitals", "dev", {"SocialProviders": '{"Corp": {"client_id": "c", "issuer": "https://id.acme.test"}}'}, "lowercase letters"),
        ("a provider endpoint over plain HTTP", "dev", {"SocialProviders": '{"corp": {"client_id": "c", "issuer": "http://id.acme.test"}}'}, "issuer must be an https:// URL"),
        ("an unknown kind of provider", "dev", {"SocialProviders": '{"corp": {"kind": "saml", "client_id": "c", "issuer": "https://id.acme.test"}}'}, "kind 'saml'"),
    ]
    failures = []
    for name, environment, given, expected in cases:
        problems = problems_of(environment, dict(defaults, **given), set(given))
        if expected is None and problems:
            failures.append(f"predeploy_check: {name}: refused: {problems}")
        elif expected is not None and not any(expected in p for p in problems):
            failures.append(f"predeploy_check: {name}: not refused with {expected!r} (got {problems})")
    parsed = parse_overrides('AllowedOrigins="https://a.test,https://b.test" LogRetentionDays=14 JwtIssuer=""')
    if parsed != {"AllowedOrigins": "https://a.test,https://b.test", "LogRetentionDays": "14", "JwtIssuer": ""}:
        failures.append(f"predeploy_check: parameter_overrides parsed as {parsed}")
    if parse_overrides(format_overrides(parsed)) != parsed:
        failures.append("predeploy_check: merged overrides do not read back as written")
    # The samconfig.toml of this tree: dev deployable as it is; prod refused until its values are real.
    if check("dev"):
        failures.append(f"predeploy_check: samconfig.toml's dev environment is refused: {check('dev')}")
    if not check("prod"):
        failures.append("predeploy_check: samconfig.toml's prod environment (placeholders) is accepted")
    # PARAMS replaces samconfig's values one by one (here every placeholder of prod).
    given = " ".join(f'{k}="{v}"' for k, v in real.items())
    if check("prod", given):
        failures.append(f"predeploy_check: prod with real PARAMS over samconfig's placeholders is refused: {check('prod', given)}")
    return failures


def main(argv):
    if argv == ["--self-test"]:
        failures = self_test()
        for failure in failures:
            print(failure, file=sys.stderr)
        return 1 if failures else 0
    if len(argv) in (2, 3) and argv[0] == "--merged":
        merged = {**parse_overrides(samconfig_overrides(argv[1])), **parse_overrides(argv[2] if len(argv) == 3 else "")}
        print(format_overrides(merged))
        return 0
    if len(argv) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    environment, params = argv[0], argv[1] if len(argv) == 2 else ""
    try:
        problems = check(environment, params)
    except ValueError as error:
        problems = [str(error)]
    for problem in problems:
        print(f"predeploy_check ({environment}): {problem}", file=sys.stderr)
    if problems:
        print(f"predeploy_check: not deploying {environment}; fix the above (samconfig.toml or PARAMS='Key=Value ...').", file=sys.stderr)
        return 1
    print(f"predeploy_check: {environment}: parameters deployable")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
