FROM debian:12-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates

FROM debian:12 AS build
RUN apt-get update && apt-get install -y build-essential

FROM base
RUN pip install requests
RUN apk add curl && pip install --no-cache-dir flask
RUN yum install -y httpd && yum clean packages
COPY --from=build /etc/hostname /build
