//! The one set of helpers every API test uses: a real server on port 0 with a database of its
//! own ([`spawn_app`]), an HTTP client with the shared operations ([`Api`], which a [`TestApp`]
//! derefs to), rows read behind the API's back, bounded waits, outside services (a real SMTP server among them), and a
//! GraphQL-over-WebSocket client ([`ws`]).

mod api;
mod app;
mod db;
mod rows;
mod services;
mod smtp;
mod wait;
pub mod ws;

pub use api::*;
pub use app::*;
pub use db::*;
pub use rows::*;
pub use services::*;
pub use smtp::*;
pub use wait::*;
