//! Discovery and feedback (issue 16): an event's categories, one row per (event, category),
//! normalised to lower case by the service (the category index serves the `categories` filter);
//! and feedback, one row per (event, user) by a unique index, so a second submission edits.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Feedback {
    Table,
    Id,
    EventId,
    UserId,
    Rating,
    Comment,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EventCategories {
    Table,
    EventId,
    Category,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventCategories::Table)
                    .col(uuid(EventCategories::EventId))
                    .col(string_len(EventCategories::Category, 50))
                    .primary_key(
                        Index::create()
                            .col(EventCategories::EventId)
                            .col(EventCategories::Category),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_categories_event")
                            .from(EventCategories::Table, EventCategories::EventId)
                            .to(Events::Table, Events::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_event_categories_category")
                    .table(EventCategories::Table)
                    .col(EventCategories::Category)
                    .col(EventCategories::EventId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Feedback::Table)
                    .col(pk_uuid(Feedback::Id))
                    .col(uuid(Feedback::EventId))
                    .col(uuid(Feedback::UserId))
                    .col(integer(Feedback::Rating))
                    .col(text_null(Feedback::Comment))
                    .col(timestamp_with_time_zone(Feedback::CreatedAt))
                    .col(timestamp_with_time_zone(Feedback::UpdatedAt))
                    .check(
                        Expr::col(Feedback::Rating)
                            .gte(1)
                            .and(Expr::col(Feedback::Rating).lte(5)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_feedback_event")
                            .from(Feedback::Table, Feedback::EventId)
                            .to(Events::Table, Events::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_feedback_user")
                            .from(Feedback::Table, Feedback::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // One feedback per user and event; also the upsert's conflict target.
        manager
            .create_index(
                Index::create()
                    .name("ux_feedback_event_user")
                    .table(Feedback::Table)
                    .col(Feedback::EventId)
                    .col(Feedback::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The newest-first listing of an event's feedback.
        manager
            .create_index(
                Index::create()
                    .name("idx_feedback_event_created")
                    .table(Feedback::Table)
                    .col(Feedback::EventId)
                    .col(Feedback::CreatedAt)
                    .col(Feedback::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Feedback::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(EventCategories::Table).to_owned())
            .await
    }
}
