// Command mkimage writes dagflow's container image as an OCI image layout
// without a container daemon or network: one layer holding a static
// dagctl binary, /data and /tmp, on an empty base, run as the non-root
// user 65532 with dagctl as the entrypoint. It is the daemonless
// counterpart of deploy/Dockerfile.
//
//	CGO_ENABLED=0 go build -o dagctl ./cmd/dagctl
//	go run ./cmd/mkimage --binary dagctl --out dagflow-oci --tag dagflow:dev
//
// Load the layout with skopeo or podman:
//
//	podman load -i oci:dagflow-oci   # or: skopeo copy oci:dagflow-oci docker://REGISTRY/dagflow:dev
package main
