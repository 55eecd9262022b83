FROM debian:12 AS build
RUN echo built > /out.txt

FROM debian:12 AS test
COPY --from=build /out.txt /out.txt
COPY --from=0 /out.txt /by-index.txt
COPY --from=nginx:1.27 /etc/nginx/nginx.conf /nginx.conf
COPY --from=docker.io/library/busybox:1.36 /bin/busybox /busybox
COPY --from=ghcr.io/example/tool@sha256:4d3a6c3b5e0f9a8c7b6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b /tool /tool

FROM debian:12
COPY --link --from=test /out.txt /out.txt
COPY --chown=1000:1000 --from=1 /nginx.conf /etc/nginx.conf
