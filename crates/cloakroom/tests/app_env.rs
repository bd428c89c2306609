//! `APP_ENV=production` makes `build()` refuse `secure(false)`, whatever built
//! the configuration: checked in a child process that runs with that variable
//! (the test never changes its own environment).

use std::process::Command;

use cloakroom::SessionLayer;

const SECRET: &[u8] = b"a-secret-of-at-least-thirty-two-bytes!";

/// Run by the test below with `APP_ENV=production`: prints what each build did.
#[test]
#[ignore = "run by production_app_env_refuses_insecure_cookies_whatever_built_the_config"]
fn app_env_child() {
    let insecure = SessionLayer::builder(SECRET.to_vec()).secure(false).build();
    match insecure {
        Ok(_) => println!("insecure: built"),
        Err(err) => println!("insecure: refused: {err}"),
    }
    let opted_out = SessionLayer::builder(SECRET.to_vec())
        .secure(false)
        .check_app_env(false)
        .build();
    println!("opted out: {}", if opted_out.is_ok() { "built" } else { "refused" });
    let secure = SessionLayer::builder(SECRET.to_vec()).build();
    println!("secure: {}", if secure.is_ok() { "built" } else { "refused" });
}

#[test]
fn production_app_env_refuses_insecure_cookies_whatever_built_the_config() {
    let run = |app_env: &str| {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "app_env_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("APP_ENV", app_env)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let production = run(" Production ");
    assert!(production.contains("insecure: refused"), "{production}");
    assert!(
        production.contains("APP_ENV=production requires Secure cookies"),
        "{production}"
    );
    assert!(
        production.contains("check_app_env(false)"),
        "the error names the opt-out: {production}"
    );
    assert!(production.contains("opted out: built"), "{production}");
    assert!(production.contains("secure: built"), "{production}");
    let development = run("development");
    assert!(development.contains("insecure: built"), "{development}");
}
