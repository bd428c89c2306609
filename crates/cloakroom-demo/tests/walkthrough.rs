//! docs/DEMO.md's walkthrough, run as written: its `sh` blocks, in order, in bash
//! against a demo this test starts (on a free port instead of 3000), in a
//! directory of their own. Every line the walkthrough shows a command printing is
//! checked to come out, in order, except lines holding `…` (times, handles,
//! tickets).

mod common;

use std::process::Command;

use common::process::{TempDir, free_port, start_demo_with};

/// The `sh` blocks of the walkthrough section of docs/DEMO.md.
fn walkthrough_blocks() -> Vec<String> {
    let doc = include_str!("../../../docs/DEMO.md");
    let start = doc.find("### Walkthrough with curl").expect("the walkthrough section");
    let end = doc[start..].find("\n### Tests").map_or(doc.len(), |at| start + at);
    let mut blocks = Vec::new();
    let mut rest = &doc[start..end];
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("```").expect("a closed code block");
        blocks.push(body[..close].to_owned());
        rest = &body[close + 3..];
    }
    blocks
}

/// The lines the walkthrough shows commands printing: the comment lines right
/// after a command (a blank line or a new command ends them), without `# `.
fn shown_output(script: &str) -> Vec<String> {
    let mut shown = Vec::new();
    let mut after_command = false;
    for line in script.lines() {
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            after_command = false;
        } else if let Some(comment) = trimmed.strip_prefix('#') {
            if after_command {
                let text = comment.strip_prefix(' ').unwrap_or(comment).trim();
                if !text.is_empty() && !text.contains('…') {
                    shown.push(text.to_owned());
                }
            }
        } else {
            after_command = true;
        }
    }
    shown
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_runs_as_written_and_prints_what_it_shows() {
    let blocks = walkthrough_blocks();
    assert!(blocks.len() >= 2, "the walkthrough and the header transport blocks");
    let dir = TempDir::new("walkthrough");
    let port = free_port();
    let _demo = start_demo_with(&dir, port, &[]).await;
    let script = blocks
        .join("\n")
        .replace("127.0.0.1:3000", &format!("127.0.0.1:{port}"));
    let output = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        let script = script.clone();
        move || {
            Command::new("bash")
                .args(["-euo", "pipefail", "-c", &script])
                .current_dir(dir)
                .output()
                .expect("bash and curl (scripts/test installs curl)")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).replace('\r', "");
    assert!(
        output.status.success(),
        "the walkthrough failed ({}): {}\n{stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // curl prints bodies without a trailing newline: split where a JSON body ends too.
    let printed: Vec<String> = stdout
        .replace("}{", "}\n{")
        .replace("}HTTP/", "}\nHTTP/")
        .lines()
        .map(|line| line.trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect();
    let mut at = 0;
    for expected in shown_output(&script) {
        match printed[at..].iter().position(|line| *line == expected) {
            Some(found) => at += found + 1,
            None => panic!(
                "the walkthrough shows {expected:?}, which did not come out (after line {at}):\n{}",
                printed.join("\n")
            ),
        }
    }
    assert!(
        shown_output(&script).len() >= 15,
        "the walkthrough shows what its commands print"
    );
}
