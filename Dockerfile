# syntax=docker/dockerfile:1
# Build: a static binary (cgo for SQLite, linked statically), then a minimal
# image running as a non-root user with the data directory as a volume.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath \
      -tags 'sqlite_omit_load_extension osusergo netgo' \
      -ldflags '-s -w -linkmode external -extldflags "-static"' \
      -o /out/fulfillmentd ./cmd/fulfillmentd \
 && install -d -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fulfillmentd /usr/local/bin/fulfillmentd
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV FULFILLMENT_DATA_DIR=/data \
    FULFILLMENT_ADDR=:8080
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/fulfillmentd"]
CMD ["serve"]
