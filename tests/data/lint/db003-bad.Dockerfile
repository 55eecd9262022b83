FROM node:20 AS web
WORKDIR /app
COPY . .
RUN npm ci && npm run build

FROM python:3.12-slim AS api
WORKDIR /app
ADD ./ /app/
RUN pip install --no-cache-dir -r requirements.txt

FROM maven:3.9-eclipse-temurin-21 AS jar
WORKDIR /src
COPY ["pom.xml", ".", "/src/"]
RUN ["mvn", "-B", "package"]

FROM golang:1.22
WORKDIR /src
COPY --chown=1000:1000 . /src
RUN go mod download && go build -o /server .
COPY --from=web /app/dist /dist
COPY --from=api /app /api
COPY --from=jar /src/target/app.jar /app.jar
