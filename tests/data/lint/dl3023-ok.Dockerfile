FROM debian:12 AS build
RUN echo built > /out.txt

FROM debian:12 AS build-test
COPY --from=build /out.txt /out.txt
RUN test -f /out.txt

FROM debian:12
COPY --from=build-test /out.txt /out.txt
