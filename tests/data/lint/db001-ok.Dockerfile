FROM debian:12 AS tools
RUN echo tool > /tool.txt

FROM debian:12 AS deps
RUN echo deps > /deps.txt

FROM debian:12
RUN echo unnamed > /unnamed.txt

FROM deps AS build
RUN --mount=from=tools,source=/tool.txt,target=/tool.txt cat /tool.txt

FROM debian:12-slim
COPY --from=build /deps.txt /deps.txt
COPY --from=2 /unnamed.txt /unnamed.txt
