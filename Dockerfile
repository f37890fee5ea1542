# sessaudit's container image: the static binary on an empty base, run as a
# non-root user. No Go image is needed: build the binary on the host first,
# as .ci/image does:
#
#   CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags=-s -o build/sessaudit ./cmd/sessaudit
#   cp /etc/ssl/certs/ca-certificates.crt build/
#   podman build -t sessaudit .        # or: buildah bud, docker build
#
# timetzdata embeds the time zone database (--db-time-zone) that scratch
# lacks; the CA bundle lets a DSN with tls=true verify the server.
FROM scratch
COPY build/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY build/sessaudit /sessaudit
# Any uid works on scratch (there is no /etc/passwd); use the one the
# application writes the share as, in the pod's securityContext.
USER 65532:65532
ENTRYPOINT ["/sessaudit"]
CMD ["help"]
