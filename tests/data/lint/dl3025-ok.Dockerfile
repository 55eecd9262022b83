FROM debian:12 AS build
HEALTHCHECK NONE
CMD []

FROM build
HEALTHCHECK --interval=5s --timeout=3s CMD ["curl", "-f", "http://localhost/"]
ENTRYPOINT ["/app"]
CMD ["--port", \
     "80"]
