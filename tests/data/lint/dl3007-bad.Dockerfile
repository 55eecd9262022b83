FROM debian:latest AS build
RUN echo built > /out.txt

FROM docker.io/library/alpine:latest
COPY --from=build /out.txt /out.txt
