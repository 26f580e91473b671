# shellcheck shell=bash
# mirror.sh is sourced by the recipes that debootstrap an image from Debian
# (postgres, redis). It lies outside their folders, whose hashes name the
# images' revisions, because which mirror a build fetches from does not
# change what the image holds. The caller defines log.

# mirror prints the host's Debian mirror, so the image comes from wherever
# apt already fetches (a proxy, a snapshot, a local mirror) instead of a host
# we would hard-code. DEBIAN_MIRROR overrides it.
mirror() {
	if [[ -n ${DEBIAN_MIRROR:-} ]]; then
		printf '%s\n' "${DEBIAN_MIRROR}"
		return
	fi
	local deb822=/etc/apt/sources.list.d/debian.sources url=""
	if [[ -r ${deb822} ]]; then
		# Stanzas are separated by blank lines; take the first URI of the
		# first stanza that lists a main suite (one without -security,
		# -updates or another dash).
		url=$(awk 'BEGIN { RS = ""; FS = "\n" }
			{
				uris = ""; main = 0
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uris = u[2] }
					if ($i ~ /^Suites:/) {
						n = split($i, s, /[ \t]+/)
						for (j = 2; j <= n; j++) if (s[j] != "" && s[j] !~ /-/) main = 1
					}
				}
				if (main && uris != "") { print uris; exit }
			}' "${deb822}")
	fi
	if [[ -z ${url} && -r /etc/apt/sources.list ]]; then
		# One-line format: "deb [options] URL suite components".
		url=$(sed -E 's/\[[^]]*\]//' /etc/apt/sources.list |
			awk '$1 == "deb" && $3 !~ /-/ { print $2; exit }')
	fi
	if [[ -z ${url} ]]; then
		log "cannot find a Debian mirror in ${deb822} or /etc/apt/sources.list; set DEBIAN_MIRROR"
		return 1
	fi
	printf '%s\n' "${url}"
}
