package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	const rev = "4f5c2f8a1b2c3d4e5f60718293a4b5c6d7e8f901"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-02T06:00:00Z"}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tt := range []struct {
		name string
		give *debug.BuildInfo
		want Info
	}{
		{
			name: "no build info",
			want: Info{Version: "dev", Module: "dev", API: "v1"},
		},
		{
			name: "go install at a tag",
			give: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: ModulePath, Version: "v0.3.0"}},
			want: Info{Version: "v0.3.0", Module: "v0.3.0", Go: "go1.26.8", API: "v1"},
		},
		{
			name: "a clean working tree Go could not version",
			give: &debug.BuildInfo{Main: debug.Module{Path: ModulePath, Version: "(devel)"}, Settings: vcs("false")},
			want: Info{Version: "dev+4f5c2f8a1b2c", Module: "dev", Revision: rev, Time: "2026-12-02T06:00:00Z", API: "v1"},
		},
		{
			name: "a modified working tree",
			give: &debug.BuildInfo{Main: debug.Module{Path: ModulePath, Version: "(devel)"}, Settings: vcs("true")},
			want: Info{Version: "dev+4f5c2f8a1b2c.dirty", Module: "dev", Revision: rev, Time: "2026-12-02T06:00:00Z", Modified: true, API: "v1"},
		},
		{
			name: "a pseudo-version stamped by go build already names the revision and dirt",
			give: &debug.BuildInfo{Main: debug.Module{Path: ModulePath, Version: "v0.0.0-20261202060000-4f5c2f8a1b2c+dirty"}, Settings: vcs("true")},
			want: Info{Version: "v0.0.0-20261202060000-4f5c2f8a1b2c+dirty", Module: "v0.0.0-20261202060000-4f5c2f8a1b2c+dirty",
				Revision: rev, Time: "2026-12-02T06:00:00Z", Modified: true, API: "v1"},
		},
		{
			name: "latch as a dependency of another program",
			give: &debug.BuildInfo{Main: debug.Module{Path: "example.com/tool", Version: "v1.0.0"}, Settings: vcs("true"),
				Deps: []*debug.Module{{Path: ModulePath, Version: "v0.2.1"}}},
			want: Info{Version: "v0.2.1", Module: "v0.2.1", API: "v1"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromBuildInfo(tt.give); got != tt.want {
				t.Errorf("FromBuildInfo = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestUserAgentIsOneProductToken(t *testing.T) {
	ua := UserAgent()
	if !strings.HasPrefix(ua, "latch/") || strings.ContainsAny(ua, " \t") || ua != "latch/"+Get().Version {
		t.Errorf("UserAgent() = %q, want latch/<version> without spaces", ua)
	}
}
