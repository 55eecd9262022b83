FROM debian:12 AS build
RUN echo one > /one.txt

FROM debian:12 AS test
COPY --from=build /one.txt /one.txt

FROM debian:12 AS build
COPY --from=test /one.txt /one.txt
