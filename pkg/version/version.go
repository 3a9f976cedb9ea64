// Package version says which build of Latch is running: the module version,
// the VCS revision and whether the tree had uncommitted changes, read once
// from the binary's build information. `latch version`, GET /v1/info and
// the User-Agent of every call Latch sends show the same string.
package version

import (
	"runtime/debug"
	"strings"
	"sync"
)

// ModulePath is Latch's module, to find its version in the build info when
// Latch is a dependency of another program.
const ModulePath = "github.com/latchhq/latch"

// APIVersion is the version of the HTTP API: the prefix of its routes.
const APIVersion = "v1"

// Info describes a build. Its JSON is the answer of GET /v1/info.
type Info struct {
	// Version is the one string that names the build (see String).
	Version string `json:"version"`
	// Module is the module version: a tag such as v0.3.0, a pseudo-version,
	// or "dev" for a build of a working tree Go could not version.
	Module string `json:"module"`
	// Revision is the VCS commit the binary was built from, when known.
	Revision string `json:"revision,omitempty"`
	// Time is the commit time (RFC 3339), when known.
	Time string `json:"time,omitempty"`
	// Modified is true when the working tree had uncommitted changes.
	Modified bool `json:"modified"`
	// Go is the Go toolchain that built the binary.
	Go string `json:"go"`
	// API is the HTTP API version (APIVersion).
	API string `json:"api_version"`
}

var (
	once sync.Once
	info Info
)

// Get returns the running binary's build information.
func Get() Info {
	once.Do(func() {
		bi, ok := debug.ReadBuildInfo()
		if !ok {
			info = FromBuildInfo(nil)
			return
		}
		info = FromBuildInfo(bi)
	})
	return info
}

// String is Get().Version: e.g. "v0.3.0", or "dev+4f5c2f8a1b2c.dirty" for
// a build of a working tree with uncommitted changes. It never holds a
// space, so it fits a User-Agent product token ("latch/" + String()).
func String() string { return Get().Version }

// UserAgent is the User-Agent header of every call Latch makes.
func UserAgent() string { return "latch/" + String() }

// FromBuildInfo reads an Info from build information (nil: nothing known).
func FromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Module: "dev", API: APIVersion}
	if bi == nil {
		in.Version = in.Module
		return in
	}
	in.Go = bi.GoVersion
	v := ""
	if bi.Main.Path == ModulePath {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.time":
				in.Time = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	} else {
		for _, d := range bi.Deps {
			if d.Path == ModulePath {
				v = d.Version
				if d.Replace != nil && d.Replace.Version != "" {
					v = d.Replace.Version
				}
			}
		}
	}
	if v != "" && v != "(devel)" {
		in.Module = v
	}
	in.Version = compose(in.Module, in.Revision, in.Modified)
	return in
}

// compose adds what the module version does not already say: the short
// revision and "dirty", as semver build metadata. Go stamps a pseudo-version
// that may already hold both (v0.0.0-20261202061000-4f5c2f8a1b2c+dirty).
func compose(module, revision string, modified bool) string {
	var meta []string
	if short := shortRev(revision); short != "" && !strings.Contains(module, short) {
		meta = append(meta, short)
	}
	if modified && !strings.Contains(module, "dirty") {
		meta = append(meta, "dirty")
	}
	if len(meta) == 0 {
		return module
	}
	sep := "+"
	if strings.Contains(module, "+") {
		sep = "."
	}
	return module + sep + strings.Join(meta, ".")
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}
