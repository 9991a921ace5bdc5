"""The front end's static files (web/) for `make dev` and the browser tests, on their own port:
another origin than the API's, as in production.

Serves web/ as it is, except `config.js`, which it writes so that the page calls the stack it
runs beside: the API on API_PORT under the host name the page was loaded from (a page on
localhost calls localhost, one on 127.0.0.1 calls 127.0.0.1: the two are different sites, and
the token cookies, SameSite=Lax, travel only within one site), or API_URL when it is set (a
deployed API), and the social-login providers of WEB_SOCIAL_PROVIDERS (a JSON object, as
web/config.js describes SOCIAL_PROVIDERS; none when unset). Adds the headers a static host should add (a CSP that is also a header,
since `frame-ancestors` in a <meta> is ignored; nosniff; no caching of the module files, so a
reload takes an edited file).

Usage: python web_server.py HOST PORT API_PORT   (API_URL, WEB_SOCIAL_PROVIDERS in the environment)
"""

import functools
import http.server
import json
import os
import pathlib
import sys

WEB = pathlib.Path(__file__).resolve().parent.parent / "web"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]"}


def social_providers():
    """WEB_SOCIAL_PROVIDERS, checked: a JSON object of objects, each with `authorize` (an http(s)
    URL) and `client_id`."""
    text = os.environ.get("WEB_SOCIAL_PROVIDERS", "").strip()
    if not text:
        return {}
    try:
        providers = json.loads(text)
    except ValueError as error:
        sys.exit(f"web_server.py: WEB_SOCIAL_PROVIDERS is not JSON: {error}")
    if not isinstance(providers, dict):
        sys.exit("web_server.py: WEB_SOCIAL_PROVIDERS must be a JSON object")
    for name, entry in providers.items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("authorize"), str)
            and entry["authorize"].startswith(("https://", "http://"))
            and isinstance(entry.get("client_id"), str)
        ):
            sys.exit(f"web_server.py: WEB_SOCIAL_PROVIDERS[{name!r}] needs an http(s) `authorize` and a `client_id`")
    return providers


class Handler(http.server.SimpleHTTPRequestHandler):
    api_port = 9000
    providers = {}

    def api_url(self):
        if os.environ.get("API_URL"):
            return os.environ["API_URL"]
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        return f"http://{host if host in LOOPBACK_NAMES else 'localhost'}:{self.api_port}"

    def end_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self):
        if self.path.split("?", 1)[0] == "/config.js":
            body = (
                f"export const API_BASE_URL = {json.dumps(self.api_url())};\n"
                f"export const SOCIAL_PROVIDERS = {json.dumps(self.providers)};\n"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format, *args):
        sys.stderr.write("web: " + format % args + "\n")


def main():
    host, port, api_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    Handler.api_port = api_port
    Handler.providers = social_providers()
    Handler.extensions_map = {**Handler.extensions_map, ".js": "text/javascript"}
    handler = functools.partial(Handler, directory=str(WEB))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
