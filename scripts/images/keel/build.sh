#!/usr/bin/env bash
# build.sh makes Keel's own image from this checkout: the static keel binary
# (CGO_ENABLED=0; the SQLite driver is pure Go) on scratch, running as the
# unprivileged user keel (uid 65532) with its data in the volume /data.
#
# Usage: build.sh IMAGE REVISION TAG
#
# IMAGE is the repository (local/keel); the image is tagged IMAGE:TAG and
# IMAGE:latest. The binary carries the version, commit and state of the tree
# the way make build links them: VERSION, COMMIT and MODIFIED from the
# environment (the Makefile passes its own), else from git. The CA
# certificates are the build machine's, from Debian's ca-certificates
# package. Nothing is pulled: scratch is not an image but an empty start.
set -euo pipefail

readonly IMAGE=$1 REVISION=$2 TAG=$3
readonly BUILD_PKG=github.com/keelhq/keel/cmd/keel/bootstrap
readonly CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
readonly UID_KEEL=65532

log() { printf '%s\n' "$*" >&2; }

cd "$(dirname "$0")/../../.."
if [[ ! -r ${CA_BUNDLE} ]]; then
	log "building ${IMAGE} needs ${CA_BUNDLE}: apt-get install ca-certificates"
	exit 1
fi

version=${VERSION-$(git describe --tags --dirty 2>/dev/null || true)}
commit=${COMMIT-$(git rev-parse HEAD 2>/dev/null || true)}
modified=${MODIFIED-$(git status --porcelain 2>/dev/null | grep -q . && echo true || echo false)}

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-image.XXXXXX")
trap 'rm -rf "${work}"' EXIT
root=${work}/rootfs
mkdir -p "${root}/etc/ssl/certs" "${root}/tmp" "${work}/data"
chmod 1777 "${root}/tmp"
chmod 0700 "${work}/data"

log "go build keel ${version:-(no tag)} ${commit}"
# -trimpath keeps the build machine's paths out of the binary, -s -w its
# symbol tables (panics still print file and line), and nomsgpack gin's
# MessagePack codec, which Keel never uses (the Makefile's BUILD_FLAGS).
# GOFLAGS is cleared so a developer's flags cannot change what ships.
CGO_ENABLED=0 GOFLAGS='' go build -trimpath -tags nomsgpack \
	-ldflags "-s -w -X ${BUILD_PKG}.version=${version} -X ${BUILD_PKG}.commit=${commit} -X ${BUILD_PKG}.modified=${modified}" \
	-o "${root}/keel" ./cmd/keel

install -m 0644 "${CA_BUNDLE}" "${root}/etc/ssl/certs/ca-certificates.crt"
cat >"${root}/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
keel:x:${UID_KEEL}:${UID_KEEL}:keel:/data:/sbin/nologin
PASSWD
cat >"${root}/etc/group" <<GROUP
root:x:0:
keel:x:${UID_KEEL}:
GROUP
cp scripts/images/keel/Dockerfile "${work}/Dockerfile"

log "docker build ${IMAGE}:${TAG}"
# The classic builder needs no buildx plugin and pulls nothing for scratch.
DOCKER_BUILDKIT=0 docker build --quiet \
	--label "org.keelhq.image=keel" \
	--label "org.keelhq.recipe=${REVISION}" \
	--label "org.opencontainers.image.title=keel" \
	--label "org.opencontainers.image.source=https://github.com/keelhq/keel" \
	--label "org.opencontainers.image.version=${version}" \
	--label "org.opencontainers.image.revision=${commit}" \
	--label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--tag "${IMAGE}:${TAG}" --tag "${IMAGE}:latest" \
	"${work}" >/dev/null
