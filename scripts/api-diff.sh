#!/usr/bin/env bash
# api-diff.sh fails when the OpenAPI document breaks a client of the last
# released one inside /v1 (make api-diff): an operation, a parameter or a
# response field removed, a type narrowed, a request field made required,
# and whatever else oasdiff counts as an error. Additions pass; so do
# changes outside /v1 (/healthz, /readyz, /metrics), which are for
# operators, not API clients.
#
# Usage: make api-diff [API_REVISION=file] [API_BASE=file]
#        (scripts/api-diff.sh [revision [base]] with OASDIFF set)
#
# revision defaults to api/openapi.yaml. base defaults to the last released
# document: api/openapi.yaml at the newest tag (git describe --tags
# --abbrev=0), or, when there is no tag or the tag has no document yet,
# api/released/v1.yaml, a copy of the document made at each release.
# OASDIFF is the oasdiff module and version to go run, pinned in the
# Makefile.
set -euo pipefail

cd "$(dirname "$0")/.."
readonly OASDIFF=${OASDIFF:?run make api-diff, which sets OASDIFF to the pinned oasdiff}
readonly BASELINE=api/released/v1.yaml

log() { printf 'api-diff.sh: %s\n' "$*" >&2; }

revision=${1:-api/openapi.yaml}
base=${2:-}
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
if [[ -z ${base} ]]; then
	base=${BASELINE}
	if tag=$(git describe --tags --abbrev=0 2>/dev/null); then
		if git show "${tag}:api/openapi.yaml" >"${work}/released.yaml" 2>/dev/null; then
			base=${work}/released.yaml
		else
			log "${tag} has no api/openapi.yaml; comparing with ${BASELINE}"
		fi
	fi
fi
log "comparing ${revision} with ${base/#${work}\/released.yaml/${tag:-} (api/openapi.yaml)}"

# api/oasdiff-levels.txt lowers to warnings what oasdiff calls breaking
# and Keel's contract allows (README, "Versions and compatibility"): a new
# value in a documented set that responses carry (an event type, a status,
# a scope), which clients must tolerate. The file's format has no room for
# comments, hence this one. External $refs stay off: the documents are
# self-contained, and a diff should never fetch anything.
go run "${OASDIFF}" breaking "${base}" "${revision}" \
	--match-path '^/v1/' --fail-on ERR --severity-levels api/oasdiff-levels.txt \
	--allow-external-refs=false --color never
