# syntax=docker/dockerfile:1
# Evenntify: build with `docker build -t evenntify .`, or run the whole stack with
# `JWT_SECRET=... docker compose up --build` (see docker-compose.yml and README.md).

# ---- build ------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

# Dependencies first: with only the manifests and placeholder sources, this layer is rebuilt
# only when Cargo.toml or Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
COPY entity/Cargo.toml entity/Cargo.toml
COPY migration/Cargo.toml migration/Cargo.toml
# bench/ (the load tool) is a workspace member: cargo cannot load the workspace without its
# manifest, though the image never builds it. Its placeholder source stays; the real one is
# not copied.
COPY bench/Cargo.toml bench/Cargo.toml
RUN mkdir -p src entity/src migration/src bench/src \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > bench/src/main.rs \
 && touch src/lib.rs entity/src/lib.rs migration/src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src entity/src migration/src

# The real sources. COPY keeps the files' modification times, which may be older than the
# placeholder build, so touch them to make cargo rebuild the workspace crates.
COPY src src
# The playground assets are embedded in the binary (src/playground.rs).
COPY playground playground
# The dashboard bundle is embedded too (src/dashboard.rs).
COPY dashboard/dist dashboard/dist
# The e-mail templates, embedded into the binary with include_str!.
COPY templates templates
COPY entity/src entity/src
COPY migration/src migration/src
RUN touch src/main.rs src/lib.rs entity/src/lib.rs migration/src/lib.rs \
 && cargo build --release --locked --bin evenntify \
 && strip target/release/evenntify

# ---- runtime ----------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /app evenntify
COPY --from=builder /src/target/release/evenntify /usr/local/bin/evenntify

USER evenntify
WORKDIR /app
# Without DATABASE_URL the server uses the SQLite file /app/evenntify.db; compose sets
# DATABASE_URL and REDIS_URL instead. No curl in the image: compose checks health with
# bash's /dev/tcp (see docker-compose.yml).
ENV BIND_ADDR=0.0.0.0:8080
EXPOSE 8080
# `serve` is the default subcommand; `docker run IMAGE migrate` or `schema` also work.
ENTRYPOINT ["/usr/local/bin/evenntify"]
