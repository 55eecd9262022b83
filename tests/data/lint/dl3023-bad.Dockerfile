FROM debian:12 AS build
RUN echo built > /out.txt
COPY --from=build /out.txt /copy.txt

FROM debian:12
COPY --from=build /out.txt /out.txt
