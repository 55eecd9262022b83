FROM debian AS build
RUN echo built > /out.txt

FROM docker.io/library/alpine AS check
COPY --from=build /out.txt /out.txt

FROM later AS early
RUN echo early

FROM debian:12 AS later
COPY --from=early /etc/hostname /early

FROM --platform=linux/amd64 busybox
COPY --from=check /out.txt /out.txt
COPY --from=later /early /early
