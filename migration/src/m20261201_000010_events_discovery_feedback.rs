//! Discovery (issue 16): an event's categories, one row per (event, category), normalised to
//! lower case by the service; the category index serves the `categories` filter.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
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
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventCategories::Table).to_owned())
            .await
    }
}
