#!/usr/bin/env bash
# vendor-docs.sh fetches the renderer of the API reference page (GET
# /v1/docs) from the npm registry into adapters/httpapi/docs/swagger-ui,
# where go:embed puts it in the binary. The page loads nothing from
# anywhere else, so it works offline and under a strict CSP.
#
# Usage: scripts/vendor-docs.sh
#
# To refresh it, change VERSION and INTEGRITY (npm view
# swagger-ui-dist@<version> dist.integrity), run this script, open /v1/docs
# and run the browser test (go test ./test/docspage). The package's
# tarball is checked against INTEGRITY, the registry's SHA-512, before
# anything is copied.
set -euo pipefail

readonly PACKAGE=swagger-ui-dist
readonly VERSION=5.35.0
readonly INTEGRITY=sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
# The bundle (React, the renderer and its dependencies), its stylesheet,
# and the licences: Apache-2.0 for Swagger UI (LICENSE, NOTICE) and the
# notices of the libraries inside the bundle. The standalone preset (a top
# bar that loads any URL) and the source maps are left out.
readonly FILES=(swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt)

cd "$(dirname "$0")/.."
# shellcheck source=scripts/vendorlib.sh
source scripts/vendorlib.sh
vendor_npm "${PACKAGE}" "${VERSION}" "${INTEGRITY}" adapters/httpapi/docs/swagger-ui "${FILES[@]}"
