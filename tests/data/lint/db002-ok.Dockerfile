FROM golang:1.22 AS build
RUN go build -o /app .

FROM ghcr.io/example/golang:1.22 AS mirror
RUN go version

FROM gcr.io/distroless/java17-debian12:nonroot AS java17

FROM gcr.io/distroless/java21-debian12:nonroot AS java21

FROM build AS test
RUN go test ./...

FROM node:20 AS web
RUN node --version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=test /app /app
COPY --from=mirror /etc/hostname /mirror
COPY --from=java17 /etc/hostname /java17
COPY --from=java21 /etc/hostname /java21
COPY --from=web /etc/hostname /web
