FROM diamol/golang:2e AS build
RUN go build -o /server .

FROM diamlo/base:2e
COPY --from=build /server /server
