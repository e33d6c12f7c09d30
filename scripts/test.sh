#!/usr/bin/env bash
# The project's test command: every package, then the concurrency-heavy
# packages again under the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -timeout 35m ./...
go test -count=1 -race -timeout 15m ./dag/... ./scheduler/... ./coordinator/... ./worker/... ./shuffle/... ./master/... ./internal/checkpoint/... ./internal/restore/... ./internal/tlsconfig/... ./internal/auth/... ./internal/limits/... ./internal/gossipkey/... ./internal/membership/... ./io/hybrid/... ./internal/ha/... ./internal/provision/... ./internal/launch/... ./internal/protocol/... ./sql/... ./internal/hadooprpc/...
