FROM --platform=${BUILDPLATFORM} tonistiigi/xx AS xx
FROM --platform=${BUILDPLATFORM} golang:alpine AS build
COPY --from=xx / /
ARG TARGETPLATFORM
RUN xx-apk add musl-dev gcc
ENV CGO_ENABLED=1
WORKDIR /src
RUN --mount=target=. --mount=type=cache,target=/root/.cache \
    xx-go build -o /out/app ./ && xx-verify /out/app
FROM scratch AS binaries
COPY --from=build /out/app /
FROM alpine AS release
COPY --from=binaries / /usr/bin/
