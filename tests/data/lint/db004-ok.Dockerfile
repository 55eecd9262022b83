FROM debian:12 AS build
RUN apt-get update && apt-get install -y build-essential
RUN pip install wheel

FROM python:3.12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=cache,target=/var/lib/apt,sharing=locked apt-get update && apt-get install -y jq
RUN --mount=type=cache,target=/root/.cache/pip pip install requests
RUN pip install --no-cache-dir flask && PIP_NO_CACHE_DIR=1 pip install gunicorn
RUN apk add --no-cache curl
RUN dnf install -y httpd && dnf clean all
COPY --from=build /etc/hostname /build
