//! `account-admin create-table` — creates the table (and its TTL) if missing.
//! `account-admin table-definition` — prints the table's definition (as in CloudFormation).
//! `account-admin create-superuser EMAIL` — reads the password from standard input (never from
//! the command line, where other users and shell history would see it).
//!
//! Both use `TABLE_NAME` and the usual AWS environment (`AWS_ENDPOINT_URL_DYNAMODB` locally).

use std::io::BufRead;
use std::process::ExitCode;

use secrecy::SecretString;
use shared::account::create_superuser;
use shared::store::{DynamoStore, TableDefinition};

const USAGE: &str =
    "usage: account-admin create-table | table-definition | create-superuser EMAIL  (password on stdin)";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
