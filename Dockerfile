# sessaudit's container image, built from a clean checkout in two stages:
#
#   podman build --build-arg REVISION=$(git rev-parse HEAD) -t sessaudit .
#   (or docker build, buildah bud)
#
# The first stage compiles the static binary in a Go image (GO_IMAGE: the
# toolchain go.mod names); the second puts it, the time zone database
# (-tags timetzdata, for --db-time-zone) and the CA bundle (a DSN with
# tls=true) on an empty base, run as a non-root user. Where no registry can
# be reached, GO_IMAGE may name a local image with the same toolchain:
# .ci/image makes one from the host's Go and builds with it
# (docs/deploy.md, "The image").
ARG GO_IMAGE=docker.io/library/golang:1.26.8
FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0
# The modules first: a change to the code alone reuses this layer.
COPY go.mod go.sum ./
RUN ["go", "mod", "download"]
COPY . .
RUN ["go", "build", "-trimpath", "-tags", "timetzdata", "-ldflags=-s", "-o", "/out/sessaudit", "./cmd/sessaudit"]

FROM scratch
ARG REVISION=unknown
ARG VERSION=dev
LABEL org.opencontainers.image.title="sessaudit" \
      org.opencontainers.image.description="Audits WhatsApp session directories on a shared EFS mount against the accounts table" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="scratch"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/sessaudit /sessaudit
# Any uid works on scratch (there is no /etc/passwd): the pod's
# securityContext sets the one the application writes the share as.
USER 65532:65532
ENTRYPOINT ["/sessaudit"]
CMD ["help"]
