//! The message templates (`templates/mail/<name>.txt` and `.html`, embedded in the binary so it
//! runs from any directory), rendered with minijinja. A `.txt` template's first line is
//! `Subject: …`; `.html` templates escape what they insert. `{{ cents | money }}` writes an amount
//! in the platform currency.

use std::sync::LazyLock;

use minijinja::{Environment, State, Value};

/// Every message template, by name.
pub const NAMES: &[&str] = &[
    "booking_confirmation",
    "payment_failed",
    "hold_expiring",
    "cancellation",
    "event_cancelled",
    "password_reset",
    "event_reminder",
    "waitlist_offer",
    "ticket_transferred",
];

macro_rules! templates {
    ($env:ident, $($name:literal),* $(,)?) => {
        $(
            $env.add_template(
                concat!($name, ".txt"),
                include_str!(concat!("../../templates/mail/", $name, ".txt")),
            )
            .expect(concat!("templates/mail/", $name, ".txt parses"));
            $env.add_template(
                concat!($name, ".html"),
                include_str!(concat!("../../templates/mail/", $name, ".html")),
            )
            .expect(concat!("templates/mail/", $name, ".html parses"));
        )*
    };
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.add_template(
        "_layout.html",
        include_str!("../../templates/mail/_layout.html"),
    )
    .expect("templates/mail/_layout.html parses");
    templates!(
        env,
        "booking_confirmation",
        "payment_failed",
        "hold_expiring",
        "cancellation",
        "event_cancelled",
        "password_reset",
        "event_reminder",
        "waitlist_offer",
        "ticket_transferred",
    );
    env.add_filter("money", money_filter);
    env
});

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What every template may read besides its own context.
pub struct Globals<'a> {
    pub currency: &'a str,
    pub public_url: &'a str,
}

/// Renders template `name` with `context` (a JSON object).
pub fn render(
    name: &str,
    context: &serde_json::Value,
    globals: &Globals<'_>,
) -> Result<Rendered, minijinja::Error> {
    let mut ctx = context.clone();
    if let Some(map) = ctx.as_object_mut() {
        map.insert("currency".into(), globals.currency.into());
        map.insert("public_url".into(), globals.public_url.into());
    }
    let ctx = Value::from_serialize(&ctx);
    let text = ENV.get_template(&format!("{name}.txt"))?.render(&ctx)?;
    let html = ENV.get_template(&format!("{name}.html"))?.render(&ctx)?;
    let (first, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let subject = first
        .strip_prefix("Subject:")
        .map(str::trim)
        .unwrap_or("Evenntify")
        // A header is one line.
        .replace(['\r', '\n'], " ");
    Ok(Rendered {
        subject,
        text: body.trim_start_matches('\n').to_string(),
        html,
    })
}

fn money_filter(state: &State, cents: i64) -> String {
    let currency = state
        .lookup("currency")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "USD".into());
    money(cents, &currency)
}

/// `cents` in `currency`'s usual written form: `$12.50`, `€12.50`, `£12.50`, `¥1250`, else
/// `12.50 CHF`.
pub fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    // ISO 4217 currencies without minor units that this platform may run in.
    let zero_decimal = matches!(currency, "JPY" | "KRW" | "ISK" | "CLP" | "VND");
    let amount = if zero_decimal {
        abs.to_string()
    } else {
        format!("{}.{:02}", abs / 100, abs % 100)
    };
    match currency {
        "USD" => format!("{sign}${amount}"),
        "EUR" => format!("{sign}€{amount}"),
        "GBP" => format!("{sign}£{amount}"),
        "JPY" => format!("{sign}¥{amount}"),
        other => format!("{sign}{amount} {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_written_in_the_platform_currency() {
        assert_eq!(money(1250, "USD"), "$12.50");
        assert_eq!(money(5, "EUR"), "€0.05");
        assert_eq!(money(1250, "JPY"), "¥1250");
        assert_eq!(money(-300, "CHF"), "-3.00 CHF");
    }

    #[test]
    fn every_template_renders_with_a_subject_and_html_escapes_what_it_inserts() {
        let globals = Globals {
            currency: "EUR",
            public_url: "http://localhost:8080",
        };
        let context = json!({
            "name": "ann",
            "message": "declined",
            "event": { "title": "<b>Jazz</b>", "starts_at": "Tue 1 Dec 2026, 20:00 UTC", "venue": "Hall" },
            "reservation": { "quantity": 2, "amount_cents": 2500, "expires_at": "soon" },
            "tickets": [{ "id": "0192-ticket" }],
            "refund_cents": 2500,
            "username": "ann",
            "token": "tok",
        });
        for name in NAMES {
            let r = render(name, &context, &globals).unwrap();
            assert!(!r.subject.is_empty() && r.subject != "Evenntify", "{name}");
            assert!(r.text.contains("ann"), "{name}: {}", r.text);
            if *name == "password_reset" {
                // Inserted values are escaped in HTML: the username here.
                assert!(r.html.contains("<strong>ann</strong>"), "{}", r.html);
                assert!(
                    r.text
                        .contains("http://localhost:8080/reset-password?token=tok")
                );
                continue;
            }
            assert!(r.html.contains("&lt;b&gt;Jazz"), "{name}: {}", r.html);
            // Messages about money show the amount.
            if !["event_reminder", "ticket_transferred"].contains(name) {
                assert!(r.text.contains("€25.00"), "{name}: {}", r.text);
            }
        }
    }
}
