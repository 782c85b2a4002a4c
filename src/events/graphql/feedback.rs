//! GraphQL face of feedback: `Feedback`, `Rating`, the `submitFeedback` mutation, and the
//! connection `Event.feedback` returns (in `mod.rs`, which imports this file, not the reverse).

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::feedback;

use super::ticket_types::parse_id;
use crate::auth::graphql::User;
use crate::connection;
use crate::graphql::context::ContextExt;

/// One attendee's rating of an event, with an optional comment.
pub struct Feedback {
    pub model: feedback::Model,
    /// Whether the caller may see who wrote it (the event's organizer, an admin, the author).
    pub show_author: bool,
}

/// One attendee's rating of an event, with an optional comment.
#[Object]
impl Feedback {
    /// Stable identifier of the feedback.
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// 1 to 5 stars.
    async fn rating(&self) -> i32 {
        self.model.rating
    }
    /// Plain text, up to 2,000 characters.
    async fn comment(&self) -> Option<&str> {
        self.model.comment.as_deref()
    }
    /// When it was first submitted.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// When it was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// Who wrote it: shown to the event's organizer, admins and the author; null for others.
    async fn author(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        if !self.show_author {
            return Ok(None);
        }
        Ok(ctx
            .users()
            .load_one(self.model.user_id)
            .await?
            .map(User::public))
    }
}

connection!(
    FeedbackConnection,
    FeedbackEdge,
    Feedback,
    "A page of an event's feedback, newest first.",
    "One feedback in a page, with its cursor."
);

/// An event's ratings summed up.
#[derive(SimpleObject)]
pub struct Rating {
    /// Mean of the ratings; null when there are none.
    pub average: Option<f64>,
    /// Number of ratings.
    pub count: i64,
    /// Ratings per number of stars: `histogram[0]` counts 1 star … `histogram[4]` 5 stars.
    pub histogram: Vec<i64>,
}

impl From<crate::events::feedback::Rating> for Rating {
    fn from(r: crate::events::feedback::Rating) -> Self {
        Rating {
            average: r.average,
            count: r.count,
            histogram: r.histogram.to_vec(),
        }
    }
}

#[derive(Default)]
pub struct FeedbackMutation;

#[Object]
impl FeedbackMutation {
    /// Rates an event the caller held a ticket for, from its start until 30 days after its
    /// end; submitting again edits the caller's earlier feedback.
    async fn submit_feedback(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The event.")] event_id: ID,
        #[graphql(desc = "1 to 5 stars.")] rating: i32,
        #[graphql(desc = "Plain text, up to 2,000 characters.")] comment: Option<String>,
    ) -> async_graphql::Result<Feedback> {
        let viewer = ctx.require_viewer()?;
        let id = parse_id(&event_id, "eventId")?;
        let model =
            crate::events::feedback::submit(ctx.state(), viewer, &ctx.actor(), id, rating, comment)
                .await?;
        Ok(Feedback {
            model,
            show_author: true,
        })
    }
}
