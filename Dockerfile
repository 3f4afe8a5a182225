# The etl image the deployment examples run (docs/deploy/): a static
# binary on a distroless base, as a non-root user, nothing else in it.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t durable-etl:1.0.0 .
#
# What etl needs at run time is only what the base gives: CA certificates
# (AWS's endpoints are TLS) and a writable /tmp, its scratch (mount a volume
# there when the root file system is read-only, as docs/deploy/kubernetes.yaml
# does). No shell, no HOME: credentials come from the environment, IRSA,
# pod identity or the ECS/EC2 role. The image itself is not built where etl
# is developed (no Docker daemon there); TestRunsInAnEmptyRoot (cmd/etl)
# holds its assumption: the binary built so runs, as uid 65532, chrooted
# into a folder holding nothing but it, /tmp and the archive.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/etl ./cmd/etl

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/etl /usr/local/bin/etl
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/etl"]
CMD ["--help"]
