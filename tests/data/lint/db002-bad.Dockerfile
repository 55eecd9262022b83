FROM golang:1.22 AS build
RUN go build -o /app .

FROM golang:1.22 AS test
RUN go test ./...

FROM golnag:1.22 AS lint
RUN go vet ./...

FROM biuld AS package
COPY --from=test /etc/hostname /test
COPY --from=lint /etc/hostname /lint

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /app /app
COPY --from=package /test /test
