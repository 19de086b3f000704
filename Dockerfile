# qbackup container image: one static binary on a distroless base, non-root.
# Build: make image (docker, podman or buildah), or
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v0.1.0 .
# The build stage runs on the builder's own platform and cross-compiles
# (no emulation): Go needs nothing else for a static binary.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY manifests ./manifests
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/qbackup ./cmd/qbackup

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="qbackup" \
      org.opencontainers.image.description="Cluster-coordinated backup and restore for distributed Qdrant on Kubernetes" \
      org.opencontainers.image.source="https://github.com/qbackup/qbackup" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/qbackup /usr/local/bin/qbackup
COPY LICENSE /usr/share/doc/qbackup/LICENSE
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/qbackup"]
