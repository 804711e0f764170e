//! `apidoc write` regenerates the committed OpenAPI files; `apidoc check` fails when they
//! differ from what the code generates. Both work under the workspace root this binary was
//! built in, or under `--root DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

use apidoc::files::{self, Rendered};

const USAGE: &str = "usage: apidoc (write | check) [--root DIR]

  write   writes openapi/openapi.json and openapi/openapi.yaml from the code
  check   exits 1 when the committed files differ from what the code generates";

enum Command {
    Write,
    Check,
}

fn parse(args: &[String]) -> Result<(Command, PathBuf), String> {
    let mut command = None;
    let mut root = files::default_root();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "write" if command.is_none() => command = Some(Command::Write),
            "check" if command.is_none() => command = Some(Command::Check),
            "--root" => {
                root = args
                    .next()
                    .map(PathBuf::from)
                    .ok_or("--root needs a directory")?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let command = command.ok_or("no command given")?;
    Ok((command, root))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, root) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("apidoc: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rendered = match files::rendered() {
        Ok(rendered) => rendered,
        Err(e) => {
            eprintln!("apidoc: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Write => write(&root, &rendered),
        Command::Check => check(&root, &rendered),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("apidoc: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn write(root: &std::path::Path, rendered: &[Rendered]) -> Result<(), String> {
    for file in rendered {
        let path = root.join(file.path);
        std::fs::write(&path, &file.text)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("wrote {} ({} bytes)", file.path, file.text.len());
    }
    Ok(())
}

fn check(root: &std::path::Path, rendered: &[Rendered]) -> Result<(), String> {
    for file in rendered {
        let path = root.join(file.path);
        let committed = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}\n{}", path.display(), REGENERATE))?;
        if let Some(difference) = files::first_difference(&committed, &file.text) {
            return Err(format!(
                "{} is not what the code generates; first difference at {difference}\n{REGENERATE}",
                file.path
            ));
        }
    }
    println!("the committed OpenAPI files are up to date");
    Ok(())
}

const REGENERATE: &str = "Run `cargo run -p apidoc -- write` and commit the result.";
