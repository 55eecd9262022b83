FROM debian:12 AS build
RUN echo built > /out.txt

# The unit tests: CI builds this stage with --target test.
# dockerbuild target
FROM build AS test
RUN echo testing

# dockerbuild target
# (other comments may follow the pragma)
FROM build AS Integration
RUN echo integrating

# dockerbuild target

FROM build AS lint
RUN echo linting

FROM build AS debug
RUN echo debugging

# dockerbuild target
FROM build
RUN echo unnamed

FROM debian:12-slim
COPY --from=build /out.txt /out.txt
