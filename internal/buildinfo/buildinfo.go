package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Devel is the version of a build without module version information.
const Devel = "devel"

// Info is what is known about a build.
type Info struct {
	// Version is the main module's version, or Devel.
	Version string `json:"version"`
	// Revision is the VCS revision the binary was built from ("" if
	// unknown).
	Revision string `json:"revision,omitempty"`
	// Modified says the working tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"goVersion"`
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: Devel, GoVersion: runtime.Version()}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts an Info from bi.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if info.Version == "" || info.Version == "(devel)" {
		info.Version = Devel
	}
	if info.GoVersion == "" {
		info.GoVersion = runtime.Version()
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String renders the version, the short revision and "+dirty" for a
// modified tree, e.g. "v1.2.0 (rev 1a2b3c4d5e6f)".
func (i Info) String() string {
	s := i.Version
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (rev " + rev
		if i.Modified {
			s += "+dirty"
		}
		s += ")"
	}
	return s + " " + i.GoVersion
}

// Same reports whether two builds are the same version and revision.
func (i Info) Same(o Info) bool {
	return i.Version == o.Version && i.Revision == o.Revision && i.Modified == o.Modified
}
