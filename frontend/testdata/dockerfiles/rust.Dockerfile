# syntax=docker/dockerfile:1.7
FROM rust:1.79 AS chef
RUN cargo install cargo-chef
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/app/target,id=rust-target \
    cargo chef cook --release --recipe-path recipe.json
COPY . .
RUN --mount=type=cache,target=/app/target,id=rust-target \
    cargo build --release && cp target/release/app /usr/local/bin/app

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/app /app
ENTRYPOINT ["/app"]
