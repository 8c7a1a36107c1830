//! `hoist user add|rm|passwd|list`: manage users on the running server through its JSON
//! API. The caller's credentials come from `HOIST_USERNAME` / `HOIST_PASSWORD` or a prompt,
//! a new password from `HOIST_NEW_PASSWORD` or a prompt: never from a flag, where it would
//! sit in the shell's history and the process list.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::io::{BufRead, IsTerminal, Write};

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
    /// The hoist to ask
    #[arg(
        long,
        env = "HOIST_URL",
        default_value = "http://127.0.0.1:5000",
        global = true
    )]
    pub registry: String,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users
    List,
    /// Add a user (the password from HOIST_NEW_PASSWORD or a prompt)
    Add {
        name: String,
        /// May do everything
        #[arg(long)]
        admin: bool,
        /// Groups the user is in (rules can name them: group:<name>)
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Remove a user and their access tokens
    Rm { name: String },
    /// Set a password: your own, or (as an admin) another user's
    Passwd { name: Option<String> },
}

struct Api {
    base: String,
    client: reqwest::Client,
    creds: Option<(String, String)>,
}

impl Api {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self
            .client
            .request(method, format!("{}/api/v1/{path}", self.base));
        match &self.creds {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }
}

pub async fn run(args: UserArgs) -> anyhow::Result<()> {
    let mut api = Api {
        base: args.registry.trim_end_matches('/').to_owned(),
        client: reqwest::Client::new(),
        creds: env_creds(),
    };
    // Without credentials given, try once as is (access control may be off), then ask.
    let probe = api
        .request(reqwest::Method::GET, "users")
        .send()
        .await
        .context("reaching hoist")?;
    if probe.status() == reqwest::StatusCode::UNAUTHORIZED && api.creds.is_none() {
        api.creds = Some(prompt_creds()?);
    }
    match args.command {
        UserCommand::List => {
            let r = check(api.request(reqwest::Method::GET, "users").send().await?).await?;
            let v: serde_json::Value = r.json().await?;
            for u in v["users"].as_array().into_iter().flatten() {
                let groups: Vec<&str> = u["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g.as_str())
                    .collect();
                println!(
                    "{}{}{}",
                    u["name"].as_str().unwrap_or(""),
                    if u["admin"].as_bool() == Some(true) {
                        "  admin"
                    } else {
                        ""
                    },
                    if groups.is_empty() {
                        String::new()
                    } else {
                        format!("  groups: {}", groups.join(", "))
                    }
                );
            }
        }
        UserCommand::Add {
            name,
            admin,
            groups,
        } => {
            let password = new_password(&name)?;
            let body = serde_json::json!({"name": name, "password": password, "admin": admin, "groups": groups});
            check(
                api.request(reqwest::Method::POST, "users")
                    .json(&body)
                    .send()
                    .await?,
            )
            .await?;
            println!("added {name}");
        }
        UserCommand::Rm { name } => {
            check(
                api.request(reqwest::Method::DELETE, &format!("users/{name}"))
                    .send()
                    .await?,
            )
            .await?;
            println!("removed {name}");
        }
        UserCommand::Passwd { name } => {
            let name = match name.or_else(|| api.creds.as_ref().map(|(u, _)| u.clone())) {
                Some(n) => n,
                None => bail!("whose password? name a user, or sign in as them"),
            };
            let password = new_password(&name)?;
            let body = serde_json::json!({"password": password});
            check(
                api.request(reqwest::Method::PUT, &format!("users/{name}"))
                    .json(&body)
                    .send()
                    .await?,
            )
            .await?;
            println!("password of {name} changed");
        }
    }
    Ok(())
}

async fn check(r: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    bail!("{status}: {message}")
}

fn env_creds() -> Option<(String, String)> {
    let user = std::env::var("HOIST_USERNAME").ok()?;
    let password = std::env::var("HOIST_PASSWORD").ok()?;
    Some((user, password))
}

fn prompt_creds() -> anyhow::Result<(String, String)> {
    if !std::io::stdin().is_terminal() {
        bail!("hoist asks for credentials: set HOIST_USERNAME and HOIST_PASSWORD");
    }
    eprint!("user name: ");
    std::io::stderr().flush()?;
    let mut user = String::new();
    std::io::stdin().lock().read_line(&mut user)?;
    let password = rpassword::prompt_password("password: ")?;
    Ok((user.trim().to_owned(), password))
}

fn new_password(name: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("HOIST_NEW_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("set HOIST_NEW_PASSWORD to give {name}'s new password");
    }
    let first = rpassword::prompt_password(format!("new password for {name}: "))?;
    let again = rpassword::prompt_password("again: ")?;
    if first != again {
        bail!("the two passwords differ");
    }
    Ok(first)
}
