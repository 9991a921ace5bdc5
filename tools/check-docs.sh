#!/usr/bin/env bash
# The book (docs/): built with the pinned mdBook, then checked — a step of `make test`.
#   - every link and anchor of the built book, and the README's links into it, with lychee
#     (offline: links to other sites are not fetched);
#   - tools/check_docs.py: every route, environment variable and key prefix of the code, and every
#     template output, mentioned in the book; no include left unexpanded; every test the security
#     promises name still exists (with a self-test that proves it fails when one is missing).
# `tools/check-docs.sh --build-only DIR` (`make docs`) only builds the book into DIR.
# mdBook and lychee are installed on first use into .tools/ (ignored by git).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# mdBook from crates.io, built without its default features (serve, watch, search: the book is
# read as files, so none is needed), which leaves ~120 crates to compile once.
MDBOOK_VERSION=0.5.4
MDBOOK="$TOOLS/mdbook/bin/mdbook"
install_mdbook() {
    if [ "$("$MDBOOK" --version 2>/dev/null)" = "mdbook v$MDBOOK_VERSION" ]; then
        return 0
    fi
    say "installing mdBook $MDBOOK_VERSION into .tools/mdbook (cargo install, once)"
    cargo install mdbook --version "$MDBOOK_VERSION" --locked --no-default-features \
        --root "$TOOLS/mdbook" --quiet
}

# lychee from PyPI (tools/docs-requirements.txt): a prebuilt binary, installed in seconds.
LYCHEE_VENV="$TOOLS/docs-venv"
install_lychee() {
    install_pinned_venv "$LYCHEE_VENV" "$ROOT/tools/docs-requirements.txt" lychee lychee
}

build_book() {
    local out="$1"
    install_mdbook
    rm -rf "$out"
    mkdir -p "$LOCAL"
    if ! "$MDBOOK" build "$ROOT/docs" --dest-dir "$out" > "$LOCAL/docs-build.log" 2>&1; then
        cat "$LOCAL/docs-build.log" >&2
        say "mdBook could not build the book (docs/)"
        return 1
    fi
    # Its warnings (an include it could not read, say), without the progress lines.
    grep -v ' INFO ' "$LOCAL/docs-build.log" >&2 || true
}

if [ "${1:-}" = "--build-only" ]; then
    out="${2:-$ROOT/target/book}"
    build_book "$out"
    say "the book: $out/index.html"
    exit 0
fi

out="$LOCAL/docs-check/book"
say "the book: built with mdBook $MDBOOK_VERSION into ${out#"$ROOT"/}, links and anchors checked (lychee), the code's routes and variables looked for"
build_book "$out"
install_lychee
"$LYCHEE_VENV/bin/lychee" --offline --include-fragments --no-progress --root-dir "$out" \
    "$out/**/*.html" "$ROOT/README.md"
python3 "$ROOT/tools/check_docs.py" "$out"
