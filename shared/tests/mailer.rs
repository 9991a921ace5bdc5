//! The two mailers at work: SES v2 against moto's SES server (a real protocol, started by
//! `make test` beside the DynamoDB one), and the file outbox.

use aws_sdk_sesv2::Client;
use shared::config::Config;
use shared::ids::random_id;
use shared::mail::{FileMailer, Language, MailError, Mailer, SesMailer, password_reset_email};

fn settings() -> shared::config::EmailSettings {
    Config::from_lookup(|name| (name == "JWT_SIGNING_KEY").then(|| "mailer-test-signing-key-0123456789abc".to_owned()))
        .expect("config")
        .email
}

/// An SES client on the local server, and the server's base URL. Refuses anything else.
async fn local_ses() -> (Client, String) {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SESV2")
        .expect("mailer tests need moto's SES server: run them with `make test`");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "mailer tests only run against a local server"
    );
    (Client::new(&shared::aws::sdk_config().await), endpoint)
}

/// The raw messages moto's SES has accepted so far (moto's own state API, over plain HTTP/1.0:
/// no client library, whose TLS features the workspace decides).
async fn received(endpoint: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let text = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("moto answers");
        write!(stream, "GET /moto-api/data.json HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("request sent");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("answer read");
        text
    })
    .await
    .expect("joined");
    let body = text.split_once("\r\n\r\n").expect("headers and body").1;
    let data: serde_json::Value = serde_json::from_str(body).expect("JSON");
    data["ses"]["RawMessage"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|message| message["raw_data"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn ses_sends_the_whole_message_raw_from_a_verified_sender() {
    let (client, endpoint) = local_ses().await;
    let sender = format!("sender-{}@example.com", random_id());
    client
        .create_email_identity()
        .email_identity(&sender)
        .send()
        .await
        .expect("identity created");
    let to = format!("user-{}@example.com", random_id());
    let email = password_reset_email(&settings(), &to, "MQ", "token-abc", Language::Korean);
    let identity = format!("arn:aws:ses:us-east-1:123456789012:identity/{sender}");
    let mailer = SesMailer::new(client, sender.clone(), Some(identity));
    mailer.send(&email).await.expect("sent");
    let ours: Vec<String> = received(&endpoint)
        .await
        .into_iter()
        .filter(|raw| raw.contains(&format!("To: {to}")))
        .collect();
    assert_eq!(ours.len(), 1, "one message reached SES");
    let raw = &ours[0];
    assert!(raw.contains(&format!("From: {sender}")), "{raw}");
    assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
    assert!(raw.contains("Content-Type: text/html; charset=utf-8"), "{raw}");
}

#[tokio::test]
async fn an_unverified_sender_is_refused_as_unavailable_and_the_error_names_no_address() {
    let (client, _) = local_ses().await;
    let sender = format!("unverified-{}@example.com", random_id());
    let to = format!("user-{}@example.com", random_id());
    let email = password_reset_email(&settings(), &to, "MQ", "token-abc", Language::English);
    let error = SesMailer::new(client, sender.clone(), None)
        .send(&email)
        .await
        .expect_err("SES refuses an unverified sender");
    let text = error.to_string();
    assert!(matches!(error, MailError::Unavailable(_)), "{text}");
    assert!(text.contains("MessageRejected"), "{text}");
    assert!(!text.contains('@'), "the error names an address: {text}");
    // And the answer it becomes: 503, the contract's body.
    let response = shared::http::ApiError::from(error).into_response();
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn the_file_mailer_writes_each_message_whole_as_one_file() {
    let outbox = std::env::temp_dir().join(format!("outbox-test-{}", random_id()));
    let mailer = FileMailer::new(&outbox, "webmaster@localhost");
    for to in ["a@example.com", "b@example.com"] {
        let email = password_reset_email(&settings(), to, "MQ", "token-abc", Language::English);
        mailer.send(&email).await.expect("written");
    }
    let mut files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for (file, to) in files.iter().zip(["a@example.com", "b@example.com"]) {
        assert_eq!(file.extension().and_then(|e| e.to_str()), Some("eml"));
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains(&format!("To: {to}\r\n")), "{text}");
        assert!(text.contains("http://localhost:9001/#/reset/MQ/token-abc"), "{text}");
        assert!(
            text.trim_end().ends_with("--"),
            "the last MIME boundary closes the file: {text}"
        );
    }
    std::fs::remove_dir_all(&outbox).unwrap();
}
