//! `account-admin create-table` — creates the table (and its TTL) if missing.
//! `account-admin table-definition` — prints the table's definition (as in CloudFormation).
//! `account-admin create-superuser EMAIL` — reads the password from standard input (never from
//! the command line, where other users and shell history would see it).
//!
//! `account-admin new-signing-key HS256|ES256` — prints a new signing key (a random secret, or a
//! P-256 private key as PKCS#8 PEM) for a key file or a Secrets Manager version; redirect it
//! into a file only you can read.
//!
//! `account-admin public-keys CURRENT_PEM [PREVIOUS_PEM]` — prints the JWK Set of the public
//! halves of ES256 key files: what the verify-only functions read (`JWT_PUBLIC_KEYS_FILE`).
//!
//! On AWS, with the stack's two secrets (the `SigningKeySecretArn` and `PublicKeysSecretArn`
//! outputs):
//! `account-admin publish-public-keys SIGNING_SECRET KEY_SET_SECRET` — writes the public keys of
//! the signing secret's current and previous ES256 keys into the key set secret (the first time,
//! after putting the first ES256 key; or to repair it).
//! `account-admin rotate-signing-key HS256|ES256 SIGNING_SECRET [KEY_SET_SECRET] [--wait SECONDS]`
//! — a new key; under ES256 its public key is published first, then the command waits (default
//! 300 s, the functions' `JWT_KEY_REFRESH_SECONDS`) before the new key becomes `AWSCURRENT`, so no
//! function that verifies meets a key id it does not know.
//!
//! The user verbs (Cognito's admin API, issue 28), each recorded as a security event with the
//! operator as its actor and under the admin routes' rules (`users.rs`): `list-users`,
//! `get-user`, `disable-user`, `enable-user`, `sign-out-user`, `reset-password`, `delete-user`,
//! `set-staff`, `set-superuser`. `backfill` brings a table from before the admin indexes up to
//! date (the users list's key on every user, the set of active superusers): run it once after
//! upgrading a stack deployed before them.
//!
//! The table commands use `TABLE_NAME` and the usual AWS environment (`AWS_ENDPOINT_URL_DYNAMODB` locally).

mod users;

use std::io::BufRead;
use std::process::ExitCode;

use secrecy::SecretString;
use shared::account::create_superuser;
use shared::store::{DynamoStore, TableDefinition};

const USAGE: &str = "usage: account-admin create-table | table-definition | backfill | create-superuser EMAIL  (password on stdin) | USER VERB (account-admin help-users) | new-signing-key HS256|ES256 | public-keys CURRENT_PEM [PREVIOUS_PEM] | publish-public-keys SIGNING_SECRET KEY_SET_SECRET | rotate-signing-key HS256|ES256 SIGNING_SECRET [KEY_SET_SECRET] [--wait SECONDS]";

/// The functions' default `JWT_KEY_REFRESH_SECONDS`: how long a rotation waits between publishing
/// a new public key and signing with it.
const DEFAULT_PUBLISH_WAIT_SECONDS: u64 = 300;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Needs no table: answered before connecting.
    if let [command, algorithm] = args.as_slice()
        && command == "new-signing-key"
    {
        return match algorithm.parse().ok().and_then(shared::tokens::keys::new_signing_key) {
            Some(key) => {
                println!("{}", key.trim_end());
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("account-admin: {USAGE}");
                ExitCode::FAILURE
            }
        };
    }
    if let [command, current, previous @ ..] = args.as_slice()
        && command == "public-keys"
        && previous.len() <= 1
    {
        return finish(public_keys(current, previous.first()));
    }
    if let Some(command) = args.first()
        && (command == "publish-public-keys" || command == "rotate-signing-key")
    {
        return finish(secrets_command(&args).await);
    }
    if args.first().map(String::as_str) == Some("help-users") {
        println!("account-admin {}", users::USAGE);
        return ExitCode::SUCCESS;
    }
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "accounts".to_owned());
    let store = DynamoStore::connect(table.clone()).await;
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Some(command) = words.first()
        && users::owns(command)
    {
        return finish(users::run(&store, &words).await);
    }
    let outcome = match words.as_slice() {
        ["backfill"] => store
            .backfill_admin_indexes()
            .await
            .map(|(users, superusers)| {
                format!("{users} users carry the users list's key; {superusers} active superusers in their set")
            })
            .map_err(|error| error.to_string()),
        ["table-definition"] => Ok(TableDefinition::as_cloudformation().to_string()),
        ["create-table"] => store
            .create_table_if_missing()
            .await
            .map(|()| format!("table {table} is ready"))
            .map_err(|error| error.to_string()),
        ["create-superuser", email] => {
            let mut line = String::new();
            match std::io::stdin().lock().read_line(&mut line) {
                Ok(_) => {
                    let password = SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned());
                    create_superuser(&store, email, &password)
                        .await
                        .map(|user| format!("superuser {} created with pk {}", user.email, user.id))
                        .map_err(|error| error.to_string())
                }
                Err(error) => Err(format!("cannot read the password: {error}")),
            }
        }
        _ => Err(USAGE.to_owned()),
    };
    finish(outcome)
}

fn finish(outcome: Result<String, String>) -> ExitCode {
    match outcome {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("account-admin: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The JWK Set of ES256 key files' public halves (the current key first).
fn public_keys(current: &str, previous: Option<&String>) -> Result<String, String> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|text| SecretString::from(text.trim().to_owned()))
            .map_err(|error| format!("{path}: {}", error.kind()))
    };
    let material = shared::tokens::keys::KeyMaterial {
        current: read(current)?,
        previous: previous.map(|path| read(path)).transpose()?,
    };
    let ring = shared::tokens::keys::KeyRing::build(shared::tokens::keys::JwtAlgorithm::Es256, &material)
        .map_err(|e| e.to_string())?;
    ring.jwks().map(|set| set.to_string()).ok_or_else(|| USAGE.to_owned())
}

/// The two commands on the stack's secrets in Secrets Manager.
async fn secrets_command(args: &[String]) -> Result<String, String> {
    let client = aws_sdk_secretsmanager::Client::new(&shared::aws::sdk_config().await);
    let mut words: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut wait = DEFAULT_PUBLISH_WAIT_SECONDS;
    if let Some(at) = words.iter().position(|word| *word == "--wait") {
        wait = words
            .get(at + 1)
            .and_then(|seconds| seconds.parse().ok())
            .ok_or_else(|| USAGE.to_owned())?;
        words.drain(at..at + 2);
    }
    match words.as_slice() {
        ["publish-public-keys", signing, key_set] => {
            shared::tokens::source::publish_public_keys(&client, signing, key_set)
                .await
                .map(|kids| format!("published the public keys {}", kids.join(", ")))
                .map_err(|error| error.to_string())
        }
        ["rotate-signing-key", algorithm, signing, key_set @ ..] if key_set.len() <= 1 => {
            let algorithm: shared::tokens::keys::JwtAlgorithm = algorithm.parse().map_err(|_| USAGE.to_owned())?;
            if algorithm == shared::tokens::keys::JwtAlgorithm::Es256 {
                eprintln!("account-admin: publishing the new public key, then waiting {wait} s before it signs");
            }
            shared::tokens::source::rotate_signing_key(
                &client,
                algorithm,
                signing,
                key_set.first().copied(),
                std::time::Duration::from_secs(wait),
            )
            .await
            .map(|kid| format!("the signing key is now {kid}; the previous one still verifies"))
            .map_err(|error| error.to_string())
        }
        _ => Err(USAGE.to_owned()),
    }
}
