ARG REGISTRY=docker.io
ARG NAME=debian
FROM ${REGISTRY}/library/debian:12 AS base
FROM docker.io/library/${NAME} AS prefixed
FROM localhost:5000/tools AS local
FROM debian:12 AS Builder
FROM builder AS child
COPY --from=BUILDER /etc/hostname /builder
COPY --from=4 /etc/hostname /self
FROM debian:12 AS CHILD
# hadolint ignore=DL3006,DB001
FROM debian AS mixed
# dockerbuild ignore=DL3006
FROM debian AS ours
# hadolint ignore=DL3006
# dockerbuild ignore=DB001
FROM debian AS stacked
