"""The book leaves nothing of the code undocumented (run by tools/check-docs.sh, in `make test`).

Reads the built book (the HTML that mdBook wrote, its included code expanded) and fails if it
does not mention:

- every route of the local router (`[workspace.metadata.lambda.watch.router]` in Cargo.toml),
  spelled without its trailing slash, outside code blocks: the router itself is included in the
  book as code, and a route must also be described in words;
- every environment variable the code reads (`shared/src`, `functions/*/src`): a name passed to
  `lookup`, `var`, `env::var` or one of config.rs's readers (`parse_or(&lookup, "NAME", …)`,
  `text("NAME")`, `url("NAME", …)`, `per_hour("NAME")`) or named in a `ConfigError`; anywhere in
  the book, included code (the comments of `Config`'s fields) counting;
- every DynamoDB key prefix the store writes (`"MAIL#…"`, `"USER#…"`: an item kind);
- every output of template.yaml.

It also fails when an include directive of docs/src names a file or an anchor that is not there
(a file moved, say: mdBook includes nothing for a lost anchor and only warns for a lost file), or
was left unexpanded in the HTML, and when a test that the security promises page names is no longer a
`fn` of functions/, shared/, tests/ or tools/, nor a pytest `def test_…` of tests/ (the browser tests).

A self-test runs first: the same checks over a copy of the code with one more route and one
more variable, against the same book, must report exactly those two problems more.

Usage: check_docs.py BOOK_HTML_DIR
"""

import html
import pathlib
import re
import sys
import tempfile
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent

# How the code names an environment variable it reads (shared/src/config.rs, key_source.rs,
# logging.rs, lib.rs): the first string argument of these calls, or a ConfigError's name.
VARIABLE_READS = re.compile(
    r"""(?x)
    \b(?:lookup|var|text|url|per_hour|parse_[a-z_]+)\(\s*(?:&?lookup\s*,\s*)?"([A-Z][A-Z0-9_]{2,})"
    | \bMissing\("([A-Z][A-Z0-9_]{2,})"\)
    | \bname:\s*"([A-Z][A-Z0-9_]{2,})"
    """
)
# A DynamoDB key prefix: a string literal such as "MAIL#{email}" or "SESSION#".
KEY_PREFIX = re.compile(r'"([A-Z][A-Z_]*#)')
# A test a security promise names: a backticked snake_case name with three underscores or more
# (field names such as `old_password` have fewer), optionally under `white_box::`.
TEST_NAME = re.compile(r"`(?:white_box::)?([a-z][a-z0-9]*(?:_[a-z0-9]+){3,})`")
INCLUDE_LEFT = re.compile(r"\{\{\s*#(?:include|rustdoc_include)\b")
INCLUDE_DIRECTIVE = re.compile(r"(?<!\\)\{\{\s*#(?:include|rustdoc_include)\s+([^}\s]+)\s*\}\}")
PRE_BLOCK = re.compile(r"<pre\b.*?</pre>", re.S)
TAG = re.compile(r"<[^>]+>")


def routes(cargo_toml):
    router = tomllib.loads(cargo_toml.read_text())["workspace"]["metadata"]["lambda"]["watch"]["router"]
    found = set()
    for path in router:
        path = path.rstrip("/")
        # The catch-all (`/account`, `/account/{*unknown}`) is the JSON 404, not a route.
        if path == "/account" or "{*" in path:
            continue
        found.add(path)
    return found


def rust_sources(root):
    files = sorted((root / "shared" / "src").rglob("*.rs"))
    for function in sorted((root / "functions").glob("*/src")):
        files += sorted(function.rglob("*.rs"))
    return files


def variables(root):
    found = set()
    for source in rust_sources(root):
        for match in VARIABLE_READS.finditer(source.read_text()):
            found.add(next(name for name in match.groups() if name))
    return found


def key_prefixes(root):
    found = set()
    for source in rust_sources(root):
        found.update(KEY_PREFIX.findall(source.read_text()))
    return found


def template_outputs(template):
    outputs, inside = set(), False
    for line in template.read_text().splitlines():
        if re.match(r"^[A-Za-z]", line):
            inside = line.startswith("Outputs:")
        elif inside and (match := re.match(r"^  ([A-Za-z0-9]+):\s*$", line)):
            outputs.add(match.group(1))
    return outputs


def book_text(book_dir):
    """The book's text (entities decoded, tags dropped), with and without its code blocks."""
    pages = [p for p in sorted(book_dir.rglob("*.html")) if p.name not in ("print.html", "toc.html", "404.html")]
    if not pages:
        raise SystemExit(f"check_docs: no HTML pages under {book_dir}: build the book first")
    raw = "\n".join(page.read_text() for page in pages)
    everything = html.unescape(TAG.sub(" ", raw))
    prose = html.unescape(TAG.sub(" ", PRE_BLOCK.sub(" ", raw)))
    return raw, everything, prose


def mentioned(path, text):
    # The path with or without its trailing slash, and not as the start of a longer path
    # (`/account/join` is not mentioned by `/account/join/verify-email`).
    return re.search(re.escape(path) + r"/?(?![A-Za-z0-9_.{*/-])", text) is not None


def check(root, book_dir):
    raw, everything, prose = book_text(book_dir)
    problems = []
    for route in sorted(routes(root / "Cargo.toml")):
        if not mentioned(route, prose):
            problems.append(f"the route {route} (Cargo.toml's router) is described nowhere in the book (outside code blocks)")
    for name in sorted(variables(root)):
        if not re.search(r"\b" + re.escape(name) + r"\b", everything):
            problems.append(f"the variable {name}, which the code reads, is mentioned nowhere in the book")
    for prefix in sorted(key_prefixes(root)):
        if prefix not in everything:
            problems.append(f"the DynamoDB key prefix {prefix} (an item the store writes) is mentioned nowhere in the book")
    for output in sorted(template_outputs(root / "template.yaml")):
        if not re.search(r"\b" + re.escape(output) + r"\b", everything):
            problems.append(f"the template output {output} is mentioned nowhere in the book")
    if INCLUDE_LEFT.search(raw):
        problems.append("an include directive was left unexpanded: a file or an anchor it names has moved (mdBook only warns)")
    return problems


def broken_includes(root):
    """Every include directive of the book's sources names a file that exists and, if it names an
    anchor, a file that has it (mdBook includes nothing for an anchor it cannot find)."""
    problems = []
    src = root / "docs" / "src"
    for page in sorted(src.rglob("*.md")):
        for target in INCLUDE_DIRECTIVE.findall(page.read_text()):
            path, _, anchor = target.partition(":")
            file = (page.parent / path).resolve()
            where = f"{page.relative_to(root)} includes {target}"
            if not file.is_file():
                problems.append(f"{where}: no such file (moved?)")
            elif anchor and not anchor.isdigit() and not re.search(rf"\bANCHOR:\s*{re.escape(anchor)}\b", file.read_text()):
                problems.append(f"{where}: the file has no anchor {anchor} (an ANCHOR: {anchor} comment)")
    return problems


def missing_tests(root):
    page = root / "docs" / "src" / "security" / "promises.md"
    names = set(TEST_NAME.findall(page.read_text()))
    if not names:
        return [f"{page.relative_to(root)} names no test"]
    defined = set()
    for folder in ("functions", "shared", "tests", "tools"):
        for source in (root / folder).rglob("*.rs"):
            defined.update(re.findall(r"\bfn ([a-z0-9_]+)", source.read_text()))
    # The browser tests (pytest): `def test_…` of tests/browser/.
    for source in (root / "tests").rglob("test_*.py"):
        defined.update(re.findall(r"^def (test_[a-z0-9_]+)", source.read_text(), re.M))
    return [f"the security promises name the test {name}, which no longer exists" for name in sorted(names - defined)]


def self_test(book_dir):
    """A copy of the inputs with one undocumented route and one undocumented variable must fail
    with exactly those two problems."""
    route, variable = "/account/undocumented-self-test", "UNDOCUMENTED_SELF_TEST_SETTING"
    with tempfile.TemporaryDirectory() as scratch:
        copy = pathlib.Path(scratch)
        cargo = (ROOT / "Cargo.toml").read_text().replace(
            "[workspace.metadata.lambda.watch.router]\n",
            f'[workspace.metadata.lambda.watch.router]\n"{route}" = "mypage"\n"{route}/" = "mypage"\n',
        )
        (copy / "Cargo.toml").write_text(cargo)
        (copy / "template.yaml").write_text((ROOT / "template.yaml").read_text())
        for source in rust_sources(ROOT):
            target = copy / source.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source.read_text())
        extra = copy / "shared" / "src" / "self_test_setting.rs"
        extra.write_text(f'fn read(lookup: impl Fn(&str) -> Option<String>) {{ let _ = lookup("{variable}"); }}\n')
        planted = [problem for problem in check(copy, book_dir) if problem not in check(ROOT, book_dir)]
    failures = []
    if not any(route in problem for problem in planted):
        failures.append(f"an undocumented route ({route}) was not reported")
    if not any(variable in problem for problem in planted):
        failures.append(f"an undocumented variable ({variable}) was not reported")
    if len(planted) != 2:
        failures.append(f"expected exactly the two planted problems, got: {planted}")
    return failures


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    book_dir = pathlib.Path(argv[1])
    failures = self_test(book_dir)
    if failures:
        for failure in failures:
            print(f"check_docs: self-test FAILED: {failure}")
        return 1
    problems = broken_includes(ROOT) + check(ROOT, book_dir) + missing_tests(ROOT)
    for problem in problems:
        print(f"check_docs: {problem}")
    if problems:
        return 1
    counts = (len(routes(ROOT / "Cargo.toml")), len(variables(ROOT)), len(key_prefixes(ROOT)))
    print("check_docs: self-test caught an undocumented route and variable; the book mentions "
          f"all {counts[0]} routes, {counts[1]} variables and {counts[2]} key prefixes of the code "
          "and every template output, and every test the security promises name exists")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
