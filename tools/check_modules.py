"""The `shared` crate's module graph has no cycle: its top-level modules are layered, and each
uses only the modules of the layers below its own (run by `make test`).

    python tools/check_modules.py [--self-test]

The layers, from the bottom up:

    clock, ids, logging, aws   leaves: time, ids, logs, the AWS SDK's configuration
    store                      users, sessions, records; DynamoDB and memory
    tokens                     JWTs, keys, key sources, the mailed links' tokens
    http                       the one error type and its answers, endpoints, bodies, CORS
    config                     the environment, read once
    mail                       messages, transports, the sending rules
    app                        what a handler is given, the event loop
    security_log               security events made from requests, logged and stored
    auth                       passwords, the login throttle, sessions behind tokens
    account                    the account's own rules (user object, sessions, superuser)
    admin, social              staff's actions; sign-in through Google, Kakao, Naver
    testing                    test support (feature `testing`)

A module's references are its `crate::<module>` paths outside comments and outside its
`#[cfg(test)]` tests (tests may use anything). `lib.rs` may only declare and re-export.
Exit status 1 names every upward reference.
"""

import pathlib
import re
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAYERS = [
    ("clock", "ids", "logging", "aws"),
    ("store",),
    ("tokens",),
    ("http",),
    ("config",),
    ("mail",),
    ("app",),
    ("security_log",),
    ("auth",),
    ("account",),
    ("admin", "social"),
    ("testing",),
]
RANK = {module: rank for rank, modules in enumerate(LAYERS) for module in modules}
REFERENCE = re.compile(r"\bcrate::(?:\{([^}]*)\}|([A-Za-z_]+))")


def production_code(text):
    """The text before the file's test module, without comments."""
    cut = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod tests", text, re.M)
    if cut:
        text = text[: cut.start()]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def referenced(text):
    modules = set()
    for group, single in REFERENCE.findall(production_code(text)):
        names = [part.strip().split("::")[0] for part in group.split(",")] if group else [single]
        modules.update(name for name in names if name)
    return modules


def problems(src):
    found = []
    lib = src / "lib.rs"
    for number, line in enumerate(production_code(lib.read_text()).splitlines(), 1):
        stripped = line.strip()
        if stripped and not re.match(r"^(#\[cfg\(feature = \"[a-z]+\"\)\]|(pub )?mod [a-z_]+;|pub use .*;?|[a-zA-Z_:{},\s]+};?)$", stripped):
            found.append(f"lib.rs:{number}: lib.rs only declares and re-exports: {stripped}")
    declared = set(re.findall(r"^pub mod ([a-z_]+);", lib.read_text(), re.M))
    if declared != set(RANK):
        found.append(f"lib.rs declares {sorted(declared)}, the layers hold {sorted(RANK)}")
    for path in sorted(src.rglob("*.rs")):
        relative = path.relative_to(src)
        if relative.name == "lib.rs" and len(relative.parts) == 1:
            continue
        module = relative.parts[0].removesuffix(".rs")
        if module not in RANK:
            found.append(f"{relative}: module {module} is in no layer (check_modules.LAYERS)")
            continue
        for other in sorted(referenced(path.read_text())):
            if other not in RANK:
                found.append(f"{relative}: crate::{other} is no module: name the module (crate::<module>::{other})")
            elif RANK[other] > RANK[module]:
                found.append(f"{relative}: {module} uses crate::{other}, a layer above it")
    return found


def self_test():
    """A copy of the crate with one upward reference and one statement in lib.rs must fail."""
    with tempfile.TemporaryDirectory() as work:
        src = pathlib.Path(work) / "src"
        for path in (ROOT / "shared" / "src").rglob("*.rs"):
            target = src / path.relative_to(ROOT / "shared" / "src")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text())
        clean = problems(src)
        (src / "clock.rs").write_text((src / "clock.rs").read_text() + "\nfn upward() -> crate::app::App<()> { todo!() }\n")
        (src / "lib.rs").write_text((src / "lib.rs").read_text() + "\nfn helper() {}\n")
        broken = problems(src)
        caught = [problem for problem in broken if problem not in clean]
        return clean, caught


def main():
    src = ROOT / "shared" / "src"
    if "--self-test" in sys.argv:
        clean, caught = self_test()
        if len(caught) != 2:
            print(f"check_modules: self-test: expected 2 new problems, got {caught}", file=sys.stderr)
            sys.exit(1)
        print("check_modules: self-test caught an upward reference and code in lib.rs")
        return
    found = problems(src)
    for problem in found:
        print(f"check_modules: {problem}", file=sys.stderr)
    if found:
        sys.exit(1)
    modules = sum(len(layer) for layer in LAYERS)
    files = len(list(src.rglob("*.rs")))
    print(f"check_modules: {files} files in {modules} modules, each using only the layers below it: no cycle")


if __name__ == "__main__":
    main()
