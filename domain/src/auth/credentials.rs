//! Username, email and password rules, as Django's defaults have them.

use crate::error::ApiError;
use crate::input::{JsonBody, Text, messages};
use crate::limits::MAX_PASSWORD_CHARS;
use crate::secret::Secret;

/// The longest username (Django's `AbstractUser`).
pub const USERNAME_MAX: usize = 150;
const EMAIL_MAX: usize = 254;
/// The shortest password Django's default validators accept.
pub const PASSWORD_MIN: usize = 8;

/// A username Django would accept: 1–150 of letters, digits and `@.+-_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const INVALID: &'static str = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.";

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let valid = !raw.is_empty()
            && raw.chars().count() <= USERNAME_MAX
            && raw
                .chars()
                .all(|c| c.is_alphanumeric() || "@.+-_".contains(c));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Self::INVALID)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address in the shape Django's `EmailValidator` accepts (a practical subset: one
/// `@`, a dotted domain of letters, digits and hyphens, no spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return Err(messages::INVALID_EMAIL);
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| {
                tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit())
            });
        if local_ok && domain_ok {
            // Django lower-cases the domain part on normalisation.
            Ok(Self(format!("{local}@{}", domain.to_lowercase())))
        } else {
            Err(messages::INVALID_EMAIL)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Django's default password validators, minus the 20,000-word common-password list: too
/// short, entirely numeric, or too similar to the username / email.
pub fn password_problems(password: &str, username: &str, email: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lowered = password.to_lowercase();
    let similar_to = |attribute: &str| {
        let attribute = attribute.to_lowercase();
        attribute.chars().count() >= 3
            && (lowered == attribute
                || lowered.contains(&attribute) && attribute.len() * 10 >= lowered.len() * 7)
    };
    let email_local = email.split('@').next().unwrap_or("");
    if similar_to(username) {
        problems.push("The password is too similar to the username.".to_owned());
    } else if similar_to(email_local) {
        problems.push("The password is too similar to the email address.".to_owned());
    }
    if password.chars().count() < PASSWORD_MIN {
        problems.push(format!(
            "This password is too short. It must contain at least {PASSWORD_MIN} characters."
        ));
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        problems.push("This password is entirely numeric.".to_owned());
    }
    problems
}

/// A registration that passed every rule except uniqueness (the origin's database decides
/// that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub username: Username,
    pub email: Email,
    /// Redacted in `Debug`: a logged request never shows it.
    pub password: Secret,
}

impl NewAccount {
    pub fn from_body(body: &JsonBody) -> Result<Self, ApiError> {
        let mut fields = body.fields();
        let username = fields
            .text("username", Text::required(USERNAME_MAX))
            .and_then(|raw| {
                Username::parse(&raw)
                    .map_err(|message| fields.reject("username", message))
                    .ok()
            });
        let email = fields
            .text("email", Text::required(EMAIL_MAX))
            .and_then(|raw| {
                Email::parse(&raw)
                    .map_err(|message| fields.reject("email", message))
                    .ok()
            });
        // DRF's `CharField` trims, passwords included (its serializer and simplejwt's alike).
        let password_rules = Text::required(MAX_PASSWORD_CHARS);
        let password = fields.text("password", password_rules);
        if let Some(password) = &password {
            let username = username.as_ref().map_or("", Username::as_str);
            let email = email.as_ref().map_or("", Email::as_str);
            for problem in password_problems(password, username, email) {
                fields.reject("password", problem);
            }
        }
        fields.finish_with(|| {
            Some(Self {
                username: username?,
                email: email?,
                password: Secret::new(password?),
            })
        })
    }
}

/// The body of `POST /api/token/`: both fields required, nothing else judged (a wrong
/// password is a 401, not a 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    /// Redacted in `Debug`.
    pub password: Secret,
}

impl Login {
    pub fn from_body(body: &JsonBody) -> Result<Self, ApiError> {
        let mut fields = body.fields();
        let username = fields.text("username", Text::required(USERNAME_MAX));
        // Trimmed, as at registration (simplejwt's `CharField` does).
        let password = fields.text("password", Text::required(MAX_PASSWORD_CHARS));
        fields.finish_with(|| {
            Some(Self {
                username: username?,
                password: Secret::new(password?),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldErrors;
    use pretty_assertions::assert_eq;

    #[test]
    fn usernames_follow_djangos_unicode_validator() {
        for good in ["alice", "a.b+c-d_e@f", "김철수", "x"] {
            assert!(Username::parse(good).is_ok(), "{good:?} should be accepted");
        }
        let too_long = "a".repeat(151);
        for bad in ["", "has space", "semi;colon", "slash/", too_long.as_str()] {
            assert_eq!(
                Username::parse(bad),
                Err(Username::INVALID),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for good in ["a@example.com", "first.last+tag@sub.example.co.kr"] {
            assert!(Email::parse(good).is_ok(), "{good:?} should be accepted");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@localhost",
            "a@.com",
            "a b@example.com",
            "a@example.c0m.1",
            "a..b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            Email::parse("Bob@EXAMPLE.com").unwrap().as_str(),
            "Bob@example.com"
        );
    }

    #[test]
    fn passwords_follow_djangos_default_validators() {
        let cases: &[(&str, &[&str])] = &[
            ("correct horse battery", &[]),
            (
                "short1",
                &["This password is too short. It must contain at least 8 characters."],
            ),
            ("12345678901", &["This password is entirely numeric."]),
            (
                "123",
                &[
                    "This password is too short. It must contain at least 8 characters.",
                    "This password is entirely numeric.",
                ],
            ),
            (
                "alice-wonder",
                &["The password is too similar to the username."],
            ),
        ];
        for (password, expected) in cases {
            assert_eq!(
                password_problems(password, "alice-wonder", "al@example.com"),
                *expected,
                "password {password:?}"
            );
        }
    }

    #[test]
    fn a_registration_reports_every_bad_field_at_once() {
        let body = JsonBody::parse(
            Some("application/json"),
            br#"{"username": "bad name", "email": "nope", "password": "123"}"#,
        )
        .unwrap();
        let Err(ApiError::Validation(errors)) = NewAccount::from_body(&body) else {
            panic!("expected validation errors");
        };
        let mut expected = FieldErrors::new();
        expected.add("username", Username::INVALID);
        expected.add("email", messages::INVALID_EMAIL);
        assert_eq!(errors.get("username"), expected.get("username"));
        assert_eq!(errors.get("email"), expected.get("email"));
        assert_eq!(
            errors.get("password"),
            Some(
                &[
                    "This password is too short. It must contain at least 8 characters.".to_owned(),
                    "This password is entirely numeric.".to_owned(),
                ][..]
            )
        );
    }

    #[test]
    fn a_registration_with_good_fields_parses() {
        let body = JsonBody::parse(
            Some("application/json"),
            br#"{"username": "alice", "email": "alice@example.com", "password": "s3cret-pass"}"#,
        )
        .unwrap();
        let account = NewAccount::from_body(&body).unwrap();
        assert_eq!(account.username.as_str(), "alice");
        assert_eq!(account.password.expose(), b"s3cret-pass");
        assert!(
            !format!("{account:?}").contains("s3cret"),
            "a password never prints"
        );
    }

    #[test]
    fn passwords_are_trimmed_as_drf_trims_them() {
        let parse = |body: &str| {
            NewAccount::from_body(
                &JsonBody::parse(Some("application/json"), body.as_bytes()).unwrap(),
            )
        };
        let account =
            parse(r#"{"username": "a", "email": "a@b.co", "password": "  s3cret-pass \t"}"#)
                .unwrap();
        assert_eq!(account.password.expose(), b"s3cret-pass");
        let Err(ApiError::Validation(errors)) =
            parse(r#"{"username": "a", "email": "a@b.co", "password": "        "}"#)
        else {
            panic!("eight spaces are a blank password");
        };
        assert_eq!(
            errors.get("password"),
            Some(&[messages::BLANK.to_owned()][..])
        );
        let login = Login::from_body(
            &JsonBody::parse(
                Some("application/json"),
                br#"{"username": "a", "password": " s3cret-pass "}"#,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(login.password.expose(), b"s3cret-pass");
    }
}
