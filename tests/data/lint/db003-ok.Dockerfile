FROM node:20 AS web
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

FROM golang:1.22
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY --from=web /app/dist ./dist
COPY . .
RUN go build -o /server .
