#!/usr/bin/env bash
# build.sh makes a Mailpit image from Mailpit's Go module, because this
# machine has no container registry to pull axllent/mailpit from.
#
# Usage: build.sh IMAGE REVISION MAILPIT_VERSION
#
# The binary is static (CGO_ENABLED=0), so the image holds only it and a /tmp
# for Mailpit's database. It takes about 1 to 1.5 minutes and gives 24 MB.
# The module build has no web-UI bundle; SMTP and the /api/v1 endpoints the
# tests use work fully.
set -euo pipefail

readonly IMAGE=$1 REVISION=$2 MAILPIT_VERSION=$3

log() { printf '%s\n' "$*" >&2; }

if ! command -v go >/dev/null 2>&1; then
	log "building ${IMAGE} needs Go on PATH"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/keel-mailpit.XXXXXX")
trap 'rm -rf "${work}"' EXIT
mkdir -p "${work}/bin" "${work}/root/tmp"
# Mailpit keeps its database in /tmp; any user must be able to write there.
chmod 1777 "${work}/root/tmp"

log "go install github.com/axllent/mailpit@${MAILPIT_VERSION}"
# GOFLAGS is cleared so a developer's flags (-mod=vendor...) cannot leak into
# a build outside this module.
(cd "${work}" && GOBIN="${work}/bin" CGO_ENABLED=0 GOFLAGS='' \
	go install -trimpath -ldflags='-s -w' "github.com/axllent/mailpit@${MAILPIT_VERSION}")
install -m 0755 "${work}/bin/mailpit" "${work}/root/mailpit"

log "importing ${IMAGE}"
# docker import needs neither a builder nor a base image, so it works with
# every Docker client and daemon version. Without MP_SMTP_DISABLE_RDNS every
# SMTP greeting waits 10 s for a reverse-DNS lookup that cannot succeed here.
tar --numeric-owner --owner=0 --group=0 -C "${work}/root" -c . |
	docker import \
		--change 'ENTRYPOINT ["/mailpit"]' \
		--change 'EXPOSE 1025 8025' \
		--change 'ENV MP_SMTP_DISABLE_RDNS=true' \
		--change "LABEL org.keelhq.image=mailpit org.keelhq.recipe=${REVISION}" \
		- "${IMAGE}" >/dev/null
