FROM debian:12 AS build
CMD make test

FROM build
HEALTHCHECK --interval=5s CMD curl -f http://localhost/ || exit 1
ENTRYPOINT exec /app --verbose
CMD ['--port', '80']
