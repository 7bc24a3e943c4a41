package version

import "runtime/debug"

// Version is the release version; "dev" for a plain go build.
var Version = "dev"

// String returns Version, or the module version recorded in the build info
// when Version was not set at link time.
func String() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}
