package bootstrap

import (
	"regexp"
	"runtime/debug"
)

// version, commit and modified are set at link time by make build and
// make run (-ldflags "-X github.com/keelhq/keel/cmd/keel/bootstrap.version=v1.2.3
// -X ….commit=<full hash> -X ….modified=true"); builds without them,
// such as go install or a plain go build, report what the Go toolchain
// recorded in the binary.
var version, commit, modified string

// buildInfo says which Keel this binary is: keel version prints it, the
// logs and traces name the version, and GET /v1/instance reports it.
type buildInfo struct {
	Version  string // a release tag, a Go pseudo-version, or "devel" with the commit
	Commit   string // the full VCS revision, the 12-digit one of a pseudo-version, or "" when unknown
	Modified bool   // the working tree had uncommitted changes
}

// readBuild is buildFrom with this binary's link-time values and the
// toolchain's build information.
func readBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo() // nil without module support
	return buildFrom(version, commit, modified, bi)
}

// pseudoRevision finds the commit in a Go pseudo-version
// (v0.0.0-20261203124002-5bf1a2202d2c, v1.4.1-0.20261203124002-5bf1a2202d2c,
// v1.5.0-rc.1.0.20261203124002-5bf1a2202d2c, each maybe with +dirty or
// +incompatible): the 12 hex digits after the 14-digit UTC time.
var pseudoRevision = regexp.MustCompile(`(?:^v[0-9]+\.[0-9]+\.[0-9]+-|\.)[0-9]{14}-([0-9a-f]{12})(?:\+[0-9A-Za-z.-]+)?$`)

// buildFrom prefers link-time values, which make sets from git, and
// fills what they leave out from bi: the module's version (set by go
// install module@version; go build in a git checkout sets a
// pseudo-version such as v0.0.0-20261203124002-5bf1a2202d2c+dirty, and
// "(devel)" when it stamps no VCS information), vcs.revision and
// vcs.modified (set by go build in a git checkout unless -buildvcs=false).
// go install module@<commit> builds from a module download, which has no
// VCS information: its commit is the 12 digits its pseudo-version names.
func buildFrom(version, commit, modified string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: version, Commit: commit, Modified: modified == "true"}
	if bi == nil {
		if b.Version == "" {
			b.Version = "unknown"
		}
		return b
	}
	if v := bi.Main.Version; b.Version == "" && v != "" && v != "(devel)" {
		b.Version = v
	}
	if commit == "" {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
		if m := pseudoRevision.FindStringSubmatch(bi.Main.Version); b.Commit == "" && m != nil {
			b.Commit = m[1]
		}
	}
	if b.Version == "" {
		b.Version = "devel"
		if b.Commit != "" {
			b.Version += "-" + b.Commit[:min(12, len(b.Commit))]
			if b.Modified {
				b.Version += "-dirty"
			}
		}
	}
	return b
}

// buildVersion is the version alone, as the logs and traces name it.
func buildVersion() string { return readBuild().Version }
