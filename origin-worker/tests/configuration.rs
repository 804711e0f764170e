//! The binary refuses to start on bad configuration, naming the variable.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::process::Command;

fn start_with(vars: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_origin-worker"));
    command.arg("migrate").env_clear();
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A production configuration (the default environment), with nothing wrong.
const GOOD: &[(&str, &str)] = &[
    ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
    ("EDGE_URL", "https://api.example.com"),
    ("SMTP_URL", "smtp://127.0.0.1:25"),
    ("ORIGIN_SHARED_SECRET", "0123456789abcdef0123456789abcdef"),
    ("JWT_SIGNING_KEY", "fedcba9876543210fedcba9876543210"),
];

#[test]
fn a_missing_or_malformed_variable_stops_start_up_with_its_name() {
    let cases: &[(&str, Option<&str>)] = &[
        ("DATABASE_URL", None),
        ("EDGE_URL", Some("not a url")),
        ("JWT_SIGNING_KEY", Some("too-short")),
        ("ORIGIN_SHARED_SECRET", None),
        ("LISTEN_ADDR", Some("everywhere")),
        ("SHUTDOWN_DEADLINE_SECS", Some("0")),
        // Development's settings, refused in production: the local edge, the fake Stripe, the
        // local inbox by default, an old key with no end to its overlap.
        ("EDGE_URL", Some("http://127.0.0.1:8787")),
        ("STRIPE_API_BASE", Some("http://127.0.0.1:12111")),
        ("SMTP_URL", None),
        ("JWT_SIGNING_KEY_PREVIOUS_UNTIL", None),
    ];
    for (name, value) in cases {
        let mut vars: Vec<(&str, &str)> = GOOD.iter().copied().filter(|(k, _)| k != name).collect();
        if let Some(value) = value {
            vars.push((name, value));
        }
        if *name == "JWT_SIGNING_KEY_PREVIOUS_UNTIL" {
            vars.push((
                "JWT_SIGNING_KEY_PREVIOUS",
                "0123456789abcdef0123456789abcdef-old",
            ));
        }
        let (code, stderr) = start_with(&vars);
        assert_eq!(code, 2, "{name}: {stderr}");
        assert!(stderr.contains(name), "the message names {name}: {stderr}");
        assert!(
            !stderr.contains("0123456789abcdef"),
            "secrets never printed: {stderr}"
        );
    }
}

#[test]
fn an_unknown_command_prints_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_origin-worker"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage: origin-worker"));
}
