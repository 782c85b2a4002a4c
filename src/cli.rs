//! The `evenntify` command line.

use std::io::BufRead;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{Application, shutdown_signal};
use crate::auth::Role;
use crate::auth::service::{NewAccount, create_user};
use crate::config::Settings;
use crate::state::AppState;

#[derive(Parser, Debug)]
#[command(
    name = "evenntify",
    version,
    about = "Event reservations with live transaction reports, as one GraphQL API."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (the default). Applies pending migrations first.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) to stdout.
    Schema,
    /// Fill the database with demo organizers, buyers, events, reservations and payments, and
    /// print the logins. Safe to run again.
    Seed,
    /// Create an ADMIN account; the password is read from the first line of stdin.
    CreateAdmin {
        /// The new admin's username.
        username: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Schema = command {
        print!("{}", crate::graphql::schema::sdl());
        return Ok(());
    }
    let settings = Settings::from_env()?;
    crate::telemetry::init(settings.log_format);
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            tracing::info!(
                address = %app.local_addr(),
                "serving GraphQL at http://{}/graphql (playground at /graphiql)",
                app.local_addr()
            );
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate => {
            let state = AppState::init(settings).await?;
            state.db.close().await.ok();
            println!("migrations applied");
            Ok(())
        }
        Command::CreateAdmin { username } => {
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            let state = AppState::init(settings).await?;
            let account = NewAccount {
                username,
                password,
                email: None,
                role: Role::Admin,
            };
            let user = create_user(&state, account)
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))?;
            println!("created admin `{}` ({})", user.username, user.id);
            Ok(())
        }
        Command::Seed => {
            let state = AppState::init(settings).await?;
            let seeded = crate::seed::run(&state)
                .await
                .map_err(crate::error::AppError::into_anyhow)?;
            println!(
                "seeded {} published events; log in with any of these (password `{}`):",
                seeded.events,
                crate::seed::DEMO_PASSWORD
            );
            for (username, role) in seeded.logins {
                println!("  {username:<8} {role}");
            }
            Ok(())
        }
        Command::Schema => unreachable!("handled above"),
    }
}
