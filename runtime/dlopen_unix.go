//go:build unix

package runtime

// #cgo linux LDFLAGS: -ldl
// #include <dlfcn.h>
// #include <stdlib.h>
import "C"

import (
	"errors"
	"unsafe"
)

// dlopen loads the shared library soname with the system loader's own
// search and unloads it again; the error is dlerror's text.
func dlopen(soname string) error {
	cs := C.CString(soname)
	defer C.free(unsafe.Pointer(cs))
	h := C.dlopen(cs, C.RTLD_LAZY|C.RTLD_LOCAL)
	if h == nil {
		return errors.New(C.GoString(C.dlerror()))
	}
	C.dlclose(h)
	return nil
}
