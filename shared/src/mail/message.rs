//! The mail the service sends (a password reset link, an address confirmation link, an
//! "account already exists" notice), in English or Korean, each with a text and an HTML part.

use lambda_http::Request;
use lambda_http::http::header::ACCEPT_LANGUAGE;

use crate::config::EmailSettings;

/// The languages of our mail: the tutorial's audience is Korean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Korean,
}

impl Language {
    /// The request's choice by `Accept-Language` (RFC 9110 §12.5.4: the highest `q` among the
    /// languages we have; the first listed wins a tie); English when it names neither.
    pub fn of(request: &Request) -> Self {
        let header = request
            .headers()
            .get(ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        Self::from_accept_language(header)
    }

    pub fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, Language)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parts
                .find_map(|parameter| parameter.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .filter(|q| (0.0..=1.0).contains(q) && *q > 0.0);
            let primary = tag.split('-').next().unwrap_or_default();
            let language = match primary {
                "ko" => Language::Korean,
                "en" => Language::English,
                _ => continue,
            };
            if let Some(quality) = quality
                && best.is_none_or(|(seen, _)| quality > seen)
            {
                best = Some((quality, language));
            }
        }
        best.map_or(Language::English, |(_, language)| language)
    }
}

/// One message to one address. `Debug` shows neither the address nor the link.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The link the message carries: the file backend logs it for `make dev`.
    pub link: String,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

fn hours(seconds: i64) -> i64 {
    (seconds + 3599) / 3600
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// The two parts of a message: paragraphs, then the link on a line of its own (none when empty).
fn compose(to: &str, subject: &str, before: &[String], link: &str, after: &[String], language: Language) -> Email {
    let mut text = String::new();
    for paragraph in before {
        text.push_str(paragraph);
        text.push_str("\n\n");
    }
    if !link.is_empty() {
        text.push_str(link);
        text.push_str("\n\n");
    }
    for paragraph in after {
        text.push_str(paragraph);
        text.push_str("\n\n");
    }
    let lang = match language {
        Language::English => "en",
        Language::Korean => "ko",
    };
    let paragraphs = |list: &[String]| {
        list.iter()
            .map(|paragraph| format!("<p>{}</p>\n", html_escape(paragraph)))
            .collect::<String>()
    };
    let link_html = match link {
        "" => String::new(),
        link => format!("<p><a href=\"{0}\">{0}</a></p>\n", html_escape(link)),
    };
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n{before}{link_html}{after}</body>\n</html>\n",
        title = html_escape(subject),
        before = paragraphs(before),
        after = paragraphs(after),
    );
    Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: text.trim_end().to_owned() + "\n",
        html,
        link: link.to_owned(),
    }
}

/// The password reset message: the link for `uid` and `token` on the front end's page.
pub fn password_reset_email(settings: &EmailSettings, to: &str, uid: &str, token: &str, language: Language) -> Email {
    let link = settings
        .password_reset_url
        .replace("{uid}", uid)
        .replace("{token}", token);
    let hours = hours(settings.password_reset_timeout);
    let (subject, before, after) = match language {
        Language::English => (
            "Reset your password",
            vec![
                "Hello,".to_owned(),
                "You are receiving this e-mail because you or someone else asked to reset the password of your account. If it was not you, ignore it: nothing changes.".to_owned(),
                format!("To choose a new password, follow this link. It works once, within {hours} hours:"),
            ],
            vec!["Every device signed in to the account is signed out when the new password is set.".to_owned()],
        ),
        Language::Korean => (
            "비밀번호 재설정",
            vec![
                "안녕하세요.".to_owned(),
                "회원님 또는 다른 누군가가 이 계정의 비밀번호 재설정을 요청하여 이 메일을 보내 드립니다. 요청하지 않으셨다면 이 메일은 무시하셔도 됩니다. 아무것도 바뀌지 않습니다.".to_owned(),
                format!("새 비밀번호를 정하려면 아래 링크를 여세요. 링크는 {hours}시간 안에 한 번만 쓸 수 있습니다:"),
            ],
            vec!["새 비밀번호가 설정되면 이 계정에 로그인된 모든 기기에서 로그아웃됩니다.".to_owned()],
        ),
    };
    compose(to, subject, &before, &link, &after, language)
}

/// The address confirmation message: the link for `key` on the front end's page.
pub fn confirmation_email(settings: &EmailSettings, to: &str, key: &str, language: Language) -> Email {
    let link = settings.email_confirm_url.replace("{key}", key);
    let hours = hours(settings.email_confirm_timeout);
    let (subject, before, after) = match language {
        Language::English => (
            "Please confirm your e-mail address",
            vec![
                "Hello,".to_owned(),
                "This address was given to register an account. To confirm it is yours, follow this link within {hours} hours:"
                    .replace("{hours}", &hours.to_string()),
            ],
            vec!["If you did not register, ignore this e-mail.".to_owned()],
        ),
        Language::Korean => (
            "이메일 주소를 확인해 주세요",
            vec![
                "안녕하세요.".to_owned(),
                format!("이 주소로 계정이 등록되었습니다. 본인의 주소가 맞다면 {hours}시간 안에 아래 링크를 열어 확인해 주세요:"),
            ],
            vec!["가입하지 않으셨다면 이 메일은 무시하세요.".to_owned()],
        ),
    };
    compose(to, subject, &before, &link, &after, language)
}

/// allauth's "account already exists" message: someone tried to join with an address that has an
/// account (under mandatory verification join answers as for a new address, and tells the
/// owner instead). No link: the owner signs in, or asks for a reset from the sign-in page.
pub fn account_exists_email(to: &str, language: Language) -> Email {
    let (subject, before) = match language {
        Language::English => (
            "Account already exists",
            vec![
                "Hello,".to_owned(),
                "You are receiving this e-mail because you or someone else tried to sign up for an account with this address. However, an account with this address already exists.".to_owned(),
                "If that was you and you have forgotten your password, ask for a new one with \"Forgot your password?\" on the sign-in page. If it was not you, ignore this e-mail: nothing has changed.".to_owned(),
            ],
        ),
        Language::Korean => (
            "이미 가입된 계정이 있습니다",
            vec![
                "안녕하세요.".to_owned(),
                "회원님 또는 다른 누군가가 이 주소로 가입을 시도하여 이 메일을 보내 드립니다. 이 주소로 가입된 계정이 이미 있습니다.".to_owned(),
                "본인이 시도하셨고 비밀번호가 기억나지 않는다면 로그인 화면의 \"비밀번호를 잊으셨나요?\"에서 새 비밀번호를 요청하세요. 본인이 아니라면 이 메일은 무시하셔도 됩니다. 아무것도 바뀌지 않았습니다.".to_owned(),
            ],
        ),
    };
    compose(to, subject, &before, "", &[], language)
}

/// Tells a user that a provider account was linked to their account because it vouched for the
/// same address: from now on it signs them in. Sent on every such link, so a link they did not
/// make does not go unnoticed.
pub fn social_connected_email(to: &str, provider: &str, language: Language) -> Email {
    let provider = provider_label(provider);
    let (subject, before) = match language {
        Language::English => (
            format!("{provider} sign-in was connected to your account"),
            vec![
                "Hello,".to_owned(),
                format!("Someone signed in with a {provider} account that uses this e-mail address, so that {provider} account can now sign in to your account."),
                "If that was you, there is nothing to do. If it was not, sign in, remove it under \"Connected accounts\", and change your password.".to_owned(),
            ],
        ),
        Language::Korean => (
            format!("{provider} 로그인이 계정에 연결되었습니다"),
            vec![
                "안녕하세요.".to_owned(),
                format!("이 메일 주소를 쓰는 {provider} 계정으로 로그인하여, 이제 그 {provider} 계정으로 회원님의 계정에 로그인할 수 있습니다."),
                "본인이 하셨다면 따로 하실 일은 없습니다. 본인이 아니라면 로그인하여 \"연결된 계정\"에서 연결을 해제하고 비밀번호를 바꾸세요.".to_owned(),
            ],
        ),
    };
    compose(to, &subject, &before, "", &[], language)
}

/// A provider's name as people write it.
fn provider_label(provider: &str) -> String {
    match provider {
        "google" => "Google".to_owned(),
        "kakao" => "Kakao".to_owned(),
        "naver" => "Naver".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_is_the_best_we_have_by_accept_language() {
        for (header, expected) in [
            ("", Language::English),
            ("ko", Language::Korean),
            ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", Language::Korean),
            ("en-US,en;q=0.9,ko;q=0.8", Language::English),
            ("fr, ko;q=0.5", Language::Korean),
            ("fr, de", Language::English),
            ("en;q=0.2, ko;q=0.9", Language::Korean),
            ("ko;q=0, en;q=0.1", Language::English),
            ("KO-kr", Language::Korean),
            ("ko;q=abc, en", Language::English),
        ] {
            assert_eq!(Language::from_accept_language(header), expected, "{header:?}");
        }
    }
}
