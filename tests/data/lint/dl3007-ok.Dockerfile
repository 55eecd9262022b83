FROM debian:latest@sha256:4d3a6c3b5e0f9a8c7b6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b AS build
RUN echo built > /out.txt

FROM example/latest-tools:1.4 AS tools

FROM alpine:3.20
COPY --from=build /out.txt /out.txt
COPY --from=tools /bin/tool /bin/tool
