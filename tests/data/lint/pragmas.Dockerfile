# dockerbuild global ignore=DB001
# hadolint global ignore=DL3007
FROM debian AS unused
RUN echo never used

# hadolint ignore=DL3006
FROM ubuntu AS tools
RUN echo tools > /tools.txt

# hadolint ignore=DL3006

FROM alpine AS spaced
COPY --from=tools /tools.txt /tools.txt
# hadolint ignore=DL3006
# a comment between the pragma and the instruction
FROM busybox AS commented
FROM debian:latest AS newest

FROM debian:12 AS base
FROM debian:12 AS again
# dockerbuild ignore=DB002
# hadolint ignore=DL3006
FROM debain AS typo
#hadolint ignore = DL3025 , DL3006 # why: the shell expands $PORT
CMD app --port $PORT

FROM debian:12
# dockerbuild ignore=DB005
ARG API_TOKEN
ARG DB_PASSWORD
COPY --from=typo /etc/hostname /typo
