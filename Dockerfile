# Multi-stage build of cmd/api and cmd/worker in one image; docker-compose.yml runs both
# from it. Configuration is by environment only (README, "Configuration"): the image holds
# no secrets and no defaults of its own.
#
# The `go build` lines of the build stage are the Makefile's `build` target, word for
# word ($(GO) being `go`); internal/deploycheck tests that they stay so, and that the Go
# image's minor version is the one of go.mod's `go` line.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, in their own layer: a change to the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/api ./cmd/api
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/worker ./cmd/worker

# Alpine rather than distroless: busybox `wget` serves the compose healthchecks
# (api /readyz on :8080, worker /healthz on :9091). Its ca-certificates bundle covers a
# webhook provider on https:// and rediss://.
FROM alpine:3.22
RUN addgroup -S -g 10001 campaignsms && \
	adduser -S -D -H -u 10001 -G campaignsms -s /sbin/nologin campaignsms
COPY --from=build /src/bin/api /src/bin/worker /usr/local/bin/
USER 10001:10001
# 8080: cmd/api (HTTP_ADDR); 9091: cmd/worker's /metrics and /healthz (METRICS_ADDR).
EXPOSE 8080 9091
# The image runs the API unless told otherwise (compose runs `worker` for the workers).
# Without REDIS_URL the API starts on an embedded Redis listening on 127.0.0.1 only,
# so give it REDIS_URL and API_TOKENS, or HTTP_ADDR=:8080 for a throwaway demo.
CMD ["api"]
