#!/usr/bin/env bash
# build.sh makes a SeaweedFS image from SeaweedFS's Go module (Apache-2.0),
# because this machine has no container registry to pull one from. The
# blob store's S3 adapter (adapters/blobs3) is tested against its S3
# gateway: a real, independent S3 implementation.
#
# Usage: build.sh IMAGE REVISION SEAWEEDFS_VERSION
#
# SEAWEEDFS_VERSION is a module version (SeaweedFS tags its releases as
# 4.53 rather than v4.53.0, so the module proxy knows them by pseudo-version).
# Its go.mod holds a replace directive, so `go install module@version`
# refuses it; a throwaway module that copies the replace builds it instead.
# The binary is static (CGO_ENABLED=0); the image holds it and a /data and a
# /tmp. It takes about 5 minutes on two cores and gives about 100 MB.
set -euo pipefail

readonly IMAGE=$1 REVISION=$2 SEAWEEDFS_VERSION=$3

log() { printf '%s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
	log "building ${IMAGE} needs Go on PATH"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-seaweedfs.XXXXXX")
trap 'rm -rf "${work}"' EXIT
mkdir -p "${work}/src" "${work}/root/tmp" "${work}/root/data"
chmod 1777 "${work}/root/tmp"

# The replace directive of SeaweedFS's own go.mod, copied: without it the
# build picks a go-bip39 whose module path moved.
cat >"${work}/src/go.mod" <<'MOD'
module keel.local/seaweedfs-image

go 1.26

replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0
MOD

log "building github.com/seaweedfs/seaweedfs/weed@${SEAWEEDFS_VERSION}"
# GOFLAGS is cleared so a developer's flags (-mod=vendor...) cannot leak into
# a build outside this module.
(
	cd "${work}/src"
	export GOFLAGS='' CGO_ENABLED=0
	go get "github.com/seaweedfs/seaweedfs/weed@${SEAWEEDFS_VERSION}"
	go build -trimpath -ldflags='-s -w' -o "${work}/root/weed" github.com/seaweedfs/seaweedfs/weed
)

log "importing ${IMAGE}"
# docker import needs neither a builder nor a base image. The S3 gateway
# listens on 8333; test/s3server passes the command line.
tar --numeric-owner --owner=0 --group=0 -C "${work}/root" -c . |
	docker import \
		--change 'ENTRYPOINT ["/weed"]' \
		--change 'EXPOSE 8333' \
		--change 'WORKDIR /data' \
		--change "LABEL org.keelhq.image=seaweedfs org.keelhq.recipe=${REVISION}" \
		- "${IMAGE}" >/dev/null
