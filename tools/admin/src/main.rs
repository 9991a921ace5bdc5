//! `account-admin create-table` — creates the table (and its TTL) if missing.
//! `account-admin table-definition` — prints the table's definition (as in CloudFormation).
//! `account-admin create-superuser EMAIL` — reads the password from standard input (never from
//! the command line, where other users and shell history would see it).
//!
//! `account-admin new-signing-key HS256|ES256` — prints a new signing key (a random secret, or a
//! P-256 private key as PKCS#8 PEM) for a key file or a Secrets Manager version; redirect it
//! into a file only you can read.
//!
//! The table commands use `TABLE_NAME` and the usual AWS environment (`AWS_ENDPOINT_URL_DYNAMODB` locally).

use std::io::BufRead;
use std::process::ExitCode;

use secrecy::SecretString;
use shared::account::create_superuser;
use shared::store::{DynamoStore, TableDefinition};

const USAGE: &str = "usage: account-admin create-table | table-definition | create-superuser EMAIL  (password on stdin) | new-signing-key HS256|ES256";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Needs no table: answered before connecting.
    if let [command, algorithm] = args.as_slice()
        && command == "new-signing-key"
    {
        return match algorithm.parse().ok().and_then(shared::keys::new_signing_key) {
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
    let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "accounts".to_owned());
    let store = DynamoStore::connect(table.clone()).await;
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
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
