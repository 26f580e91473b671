#!/usr/bin/env bash
# docker-entrypoint.sh starts PostgreSQL the way the official postgres image
# does. testcontainers' postgres module relies on that behaviour: it passes
# "-c fsync=off", sets POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB, and
# waits for "database system is ready to accept connections" twice (once from
# the temporary init server, once from the real one).
#
# -u is left out on purpose, as in the official image: scripts in
# /docker-entrypoint-initdb.d are sourced and may read unset variables.
set -Eeo pipefail

log() { printf 'entrypoint: %s\n' "$*"; }

# init_cluster creates the cluster in an empty $PGDATA, the database named by
# POSTGRES_DB, and runs the init scripts, all on a server that only listens on
# its Unix socket, so nobody connects before initialisation is complete.
init_cluster() {
	local user=${POSTGRES_USER:-postgres}
	local password=${POSTGRES_PASSWORD:-}
	local db=${POSTGRES_DB:-$user}
	local auth=${POSTGRES_HOST_AUTH_METHOD:-}
	if [[ -z ${auth} ]]; then
		if [[ -n ${password} ]]; then
			auth=scram-sha-256
		else
			auth=trust
			log "POSTGRES_PASSWORD is empty: every host connection is trusted"
		fi
	fi

	mkdir -p "${PGDATA}"
	chmod 700 "${PGDATA}"

	# minbase has no locales package; glibc's built-in C.UTF-8 needs none.
	local args=(-D "${PGDATA}" --username="${user}" --encoding=UTF8 --locale=C.UTF-8
		--auth-local=trust --auth-host="${auth}")
	# POSTGRES_INITDB_ARGS is split into words on purpose, as upstream does.
	# The password goes through a pipe, never a file or the command line;
	# the <(...) must sit on initdb's own command line, since its descriptor
	# closes as soon as the command that opened it ends.
	if [[ -n ${password} ]]; then
		# shellcheck disable=SC2086
		initdb "${args[@]}" --pwfile=<(printf '%s\n' "${password}") ${POSTGRES_INITDB_ARGS:-}
	else
		# shellcheck disable=SC2086
		initdb "${args[@]}" ${POSTGRES_INITDB_ARGS:-}
	fi

	# Containers reach the server through Docker's network, from any address.
	printf '\nhost all all all %s\n' "${auth}" >>"${PGDATA}/pg_hba.conf"
	# The image carries no LLVM (it is most of Debian's package's size), so
	# JIT compilation must stay off.
	printf "\nlisten_addresses = '*'\njit = off\n" >>"${PGDATA}/postgresql.conf"

	pg_ctl -D "${PGDATA}" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start

	export PGUSER=${user} PGDATABASE=postgres
	local psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password)
	if [[ ${db} != postgres ]]; then
		"${psql[@]}" --set db="${db}" <<<'CREATE DATABASE :"db";'
	fi
	export PGDATABASE=${db}

	local f
	for f in /docker-entrypoint-initdb.d/*; do
		case ${f} in
		*.sh)
			if [[ -x ${f} ]]; then
				log "running ${f}"
				"${f}"
			else
				log "sourcing ${f}"
				# shellcheck disable=SC1090
				. "${f}"
			fi
			;;
		*.sql)
			log "running ${f}"
			"${psql[@]}" -f "${f}"
			;;
		*.sql.gz)
			log "running ${f}"
			gunzip -c "${f}" | "${psql[@]}"
			;;
		*) [[ -e ${f} ]] && log "ignoring ${f}" ;;
		esac
	done
	unset PGUSER PGDATABASE

	pg_ctl -D "${PGDATA}" -m fast -w stop
	log "PostgreSQL init process complete; ready for start up."
}

# Arguments that start with a dash ("-c fsync=off") are options for postgres.
if [[ $# -eq 0 || ${1:0:1} == - ]]; then
	set -- postgres "$@"
fi
# Anything else (bash, psql) runs as given, as in the official image.
if [[ $1 != postgres ]]; then
	exec "$@"
fi

export PGDATA=${PGDATA:-/var/lib/postgresql/data}

# The image runs as postgres; someone who runs it as root gets the same
# server: we prepare the directories and drop to postgres with setpriv
# (util-linux, so always present; the official image uses gosu).
if [[ $(id -u) -eq 0 ]]; then
	install -d -o postgres -g postgres -m 700 "${PGDATA}"
	install -d -o postgres -g postgres -m 3777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ ! -s ${PGDATA}/PG_VERSION ]]; then
	init_cluster
fi
exec "$@"
