#!/usr/bin/env bash
# `make rotate-key`: rotates the local signing key of JWT_ALGORITHM (HS256 by default, as
# `make dev`) in .local/: the current key becomes the previous one, a new key the current one.
# A running `make dev` reads them again within JWT_KEY_REFRESH_SECONDS (10 s there): tokens
# signed before keep working until they expire, new ones carry the new kid. Under ES256 the
# public key set file is written first, but without the wait the AWS command makes. On AWS the
# same is `account-admin rotate-signing-key` on the stack's two secrets
# (docs/src/operating/key-rotation.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

if [ -z "${JWT_SIGNING_KEY_FILE:-}" ]; then
    cargo build --quiet -p account-admin
    use_signing_key_files "${JWT_ALGORITHM:-HS256}" "$LOCAL"
fi
rotate_signing_key_files
say "rotated the $JWT_ALGORITHM signing key in $JWT_SIGNING_KEY_FILE (the previous one kept beside it)"
