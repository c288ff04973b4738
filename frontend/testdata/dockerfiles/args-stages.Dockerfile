ARG BASE_IMAGE=alpine
ARG VERSION=latest
ARG VARIANT

FROM ${BASE_IMAGE}:${VERSION} AS base
ARG VARIANT=full
ENV VARIANT=${VARIANT}
RUN echo "variant $VARIANT"

FROM base AS dev
ARG EXTRA_PKGS="git vim"
RUN apk add ${EXTRA_PKGS}

FROM base AS prod
ARG VERSION
LABEL version=${VERSION:-unknown}
COPY --from=0 /etc/alpine-release /etc/base-release

FROM ${VARIANT:-prod}
