//go:build !unix

package runtime

import "errors"

// dlopen is not available on this platform: name the library's path.
func dlopen(string) error { return errors.New("no system loader search on this platform") }
