# hookrelay as a container: one static binary (CGO_ENABLED=0, pure-Go
# SQLite) on a distroless base that has CA certificates (receivers are
# HTTPS) and no shell, running as a non-root user. The database and the
# encryption key generated beside it live in the volume /data: back up both.
#
#   docker build -t hookrelay .
#   docker run -d -p 8080:8080 -v hookrelay-data:/data hookrelay
#   docker exec <container> hookrelay admin operator-key create
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/hookrelay ./cmd/hookrelay \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hookrelay /usr/local/bin/hookrelay
# The volume's mount point, owned by the image's non-root user (65532) so
# that a fresh named volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV HOOKRELAY_DATABASE=/data/hookrelay.db \
    HOOKRELAY_ADDR=0.0.0.0:8080 \
    HOOKRELAY_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# No curl in the image: the binary probes its own /readyz (the address
# comes from HOOKRELAY_ADDR; 0.0.0.0 is probed on loopback).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/hookrelay", "ready"]
ENTRYPOINT ["/usr/local/bin/hookrelay"]
CMD ["serve"]
