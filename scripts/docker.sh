#!/usr/bin/env bash
# docker.sh makes sure a Docker daemon answers before the tests need one.
#
# The machines Keel is built on have no systemd and no daemon running at
# start, and every process dies when a session stops, so this script starts
# dockerd itself on each run. It is a no-op when `docker info` already works.
set -euo pipefail

# The longest we wait for a freshly started daemon; it usually answers in
# about a second, so a minute only passes when something is really wrong.
readonly TIMEOUT_SECONDS=${DOCKER_START_TIMEOUT:-60}
readonly LOG=/var/log/dockerd.log

log() { printf 'docker.sh: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
	exit 0
fi

# Starting a daemon needs root, and installing one needs apt: anywhere else
# the developer has to provide Docker, and we say so instead of guessing.
if [[ ${EUID} -ne 0 || ! -f /etc/debian_version ]]; then
	log "no Docker daemon answers 'docker info'."
	log "The container tests need Docker: start Docker (or Docker Desktop) and rerun."
	exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
	log "installing docker.io with apt (dockerd is missing)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# The package's service cannot start without systemd ("policy-rc.d
	# denied"); that is expected and harmless, we start dockerd below.
	apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

# A daemon that is still starting already owns its pid file; a second one
# would refuse to start, so we only wait for it.
if pgrep -x dockerd >/dev/null 2>&1; then
	log "dockerd is running but not answering yet; waiting"
else
	log "starting dockerd (log: ${LOG})"
	# overlay2 is far faster than vfs here (0.07 s against 5.6 s per
	# PostgreSQL container). --ip=127.0.0.1 makes every published port bind
	# to loopback only, so no test service is reachable from the network.
	# setsid and nohup detach the daemon from this shell, so it outlives it.
	setsid nohup dockerd --storage-driver=overlay2 --ip=127.0.0.1 >"${LOG}" 2>&1 </dev/null &
fi

deadline=$((SECONDS + TIMEOUT_SECONDS))
until docker info >/dev/null 2>&1; do
	if ((SECONDS >= deadline)); then
		log "dockerd did not answer within ${TIMEOUT_SECONDS}s; the end of ${LOG} follows."
		tail -n 20 "${LOG}" >&2 || true
		exit 1
	fi
	sleep 0.2
done
log "dockerd answers"
