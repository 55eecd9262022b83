FROM debian:12 AS build
RUN echo built > /out.txt

FROM debian:12 AS test
COPY --from=build /out.txt /out.txt
COPY --from=biuld /out.txt /typo.txt
COPY --from=5 /out.txt /index.txt
COPY --from=publish /out.txt /later.txt
COPY --from=nginx /etc/nginx/nginx.conf /nginx.conf

FROM debian:12 AS publish
COPY --from=test /out.txt /out.txt
