# botwarden: one binary on distroless, running as non-root.
#   docker build -t botwarden .
#   docker run --rm -p 9001:9001 -p 8080:8080 botwarden
# docker-compose.yml builds this file and puts Envoy and a demo origin beside it.

# Build stage: the same Go as go.mod asks for. CGO on: the analytics store is
# DuckDB (C++, linked from the prebuilt library the Go module ships), so the
# binary needs glibc and libstdc++ at run time: distroless/cc has both.
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so a source change does not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -tags vtprotobuf -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/botwarden ./cmd/botwarden

# Runtime stage: no shell, no package manager; uid/gid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/botwarden /usr/local/bin/botwarden
USER 65532:65532
# 9001: gRPC (ext_authz Check, access-log service, health).
# 8080: HTTP (challenge endpoint, HTTP authz, /healthz, /readyz, /metrics).
EXPOSE 9001 8080
ENTRYPOINT ["/usr/local/bin/botwarden"]
CMD ["serve"]
