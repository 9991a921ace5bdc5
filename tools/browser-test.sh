#!/usr/bin/env bash
# `make test-browser` (and a step of `make test`): the front end of web/ in headless Chromium
# (tests/browser, pytest + Playwright) against a stack of its own on free ports, whose access
# tokens live 5 seconds so that the expiry flows can wait one out. The page is served on its
# own port (tools/web_server.py): another origin than the API's, as deployed, and the same site
# (localhost), as the cookies' SameSite=Lax needs. Social login runs against the stack's local
# OpenID Connect provider (tools/oidc): its Google and Kakao send the browser back to the page
# (the redirect URI http://localhost:PORT/, registered with it below); Naver there is only a fake
# token API, so its button is configured and its return driven by the provider's control route.
# Screenshots go to .local/screenshots/.
# Everything it starts is stopped on exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

install_tools
install_chromium
cargo build --workspace --bins --quiet

stack_begin
# The throwaway key files of this run go with it.
trap 'stack_end; rm -rf "$LOCAL"/test-keys-$$-*' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

export ACCESS_TOKEN_LIFETIME_SECONDS=5
web_port="$(free_port)"
export STACK_ALLOWED_ORIGINS="http://localhost:$web_port"
# The page's folder is its redirect URI (web/js/social.js): the provider's clients accept it.
export SOCIAL_REDIRECT_URIS="http://localhost:$web_port/"
start_test_stack watch-browser
api_port="${STACK_API_URL##*:}"
# The page's providers (web/config.js's SOCIAL_PROVIDERS): the local provider's, as
# use_local_social_providers configures the functions.
social="$E2E_SOCIAL_PROVIDER_URL"
export WEB_SOCIAL_PROVIDERS='{
  "google": {"authorize": "'"$social"'/google/auth", "client_id": "local-google-client", "scope": "openid email profile", "pkce": true, "nonce": true},
  "kakao": {"authorize": "'"$social"'/kakao/auth", "client_id": "local-kakao-client", "scope": "openid email profile", "pkce": true, "nonce": true},
  "naver": {"authorize": "'"$social"'/naver/oauth2.0/authorize", "client_id": "local-naver-client", "pkce": false, "nonce": false}}'
stack_service "$LOCAL/web-browser.log" python "$ROOT/tools/web_server.py" 127.0.0.1 "$web_port" "$api_port"
wait_for_http "http://127.0.0.1:$web_port/" 30

say "browser tests: web/ on http://localhost:$web_port, the API on http://localhost:$api_port ($CHROMIUM)"
rm -rf "$LOCAL/screenshots"
WEB_URL="http://localhost:$web_port" API_URL="http://localhost:$api_port" \
    python -m pytest -q -p no:cacheprovider "$ROOT/tests/browser"
say "screenshots: $(ls "$LOCAL/screenshots" | tr '\n' ' ')"
