package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
		str  string
	}{
		{"devel", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			Info{Version: Devel, GoVersion: "go1.26.0"}, "devel go1.26.0"},
		{"tagged", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}},
			Info{Version: "v1.2.0", Revision: "0123456789abcdef0123", Modified: true, GoVersion: "go1.26.0"}, "v1.2.0 (rev 0123456789ab+dirty) go1.26.0"},
	}
	for _, tt := range tests {
		got := FromBuildInfo(&tt.bi)
		if got != tt.want || got.String() != tt.str {
			t.Errorf("%s: %+v %q, want %+v %q", tt.name, got, got.String(), tt.want, tt.str)
		}
	}
	a := Info{Version: "v1", Revision: "r"}
	if !a.Same(a) || a.Same(Info{Version: "v1", Revision: "s"}) {
		t.Error("Same")
	}
}
