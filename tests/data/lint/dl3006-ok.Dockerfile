ARG BASE=debian:12
ARG REGISTRY=docker.io
FROM scratch AS empty
COPY hello.txt /hello.txt

FROM $BASE AS build
RUN echo built > /out.txt

FROM ${REGISTRY}/library/alpine AS check
COPY --from=build /out.txt /out.txt

FROM build AS test
RUN test -f /out.txt

FROM empty AS files

FROM debian@sha256:4d3a6c3b5e0f9a8c7b6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b AS pinned
COPY --from=files /hello.txt /hello.txt

FROM debian:12-slim
COPY --from=check /out.txt /check.txt
COPY --from=test /out.txt /test.txt
COPY --from=pinned /hello.txt /hello.txt
