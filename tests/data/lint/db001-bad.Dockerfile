FROM debian:12 AS deps
RUN echo deps > /deps.txt

FROM deps AS build
RUN echo built > /out.txt

FROM debian:12 AS debug
RUN echo debugging

FROM debian:12
RUN echo unnamed

FROM debian:12-slim
COPY --from=build /out.txt /out.txt
