# qbackup container image: one static binary on a distroless base, non-root.
# Build: docker build -t qbackup:dev --build-arg VERSION=$(git describe --always) .

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
COPY manifests ./manifests
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/qbackup ./cmd/qbackup

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/qbackup /usr/local/bin/qbackup
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/qbackup"]
