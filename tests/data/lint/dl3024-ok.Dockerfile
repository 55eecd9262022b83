FROM debian:12 AS build
RUN echo one > /one.txt

FROM debian:12 AS build2
COPY --from=build /one.txt /one.txt

FROM debian:12 AS rebuild
COPY --from=build2 /one.txt /one.txt
