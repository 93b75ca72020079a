//go:build cgo

package caddyrealplexor

/*
#cgo LDFLAGS: -lcrypt
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

// crypt_r is reentrant given a private crypt_data; it is ~32 KiB, hence the
// heap. The scratch area and the key are wiped because both hold password
// material. Returns 0 and the NUL-terminated hash in out, or -1.
static int realplexor_crypt(char *key, const char *setting, char *out, size_t outsz) {
	int rc = -1;
	struct crypt_data *d = calloc(1, sizeof *d);
	if (d) {
		const char *r = crypt_r(key, setting, d);
		// libxcrypt signals failure with NULL or a "*..." string.
		if (r && r[0] != '*' && strlen(r) < outsz) {
			strcpy(out, r);
			rc = 0;
		}
		explicit_bzero(d, sizeof *d);
		free(d);
	}
	explicit_bzero(key, strlen(key));
	return rc;
}
*/
import "C"

import (
	"crypto/subtle"
	"errors"
	"strings"
	"sync"
	"unsafe"
)

// The DES fixture of the original's test suite (R-AUTH-3), reused as a probe.
const desSelfTestHash, desSelfTestPassword = "32qjML0Qsbo8o", "password"

// desCryptSupported checks once that libcrypt really does DES: libxcrypt can
// be built without the legacy hashes, and we would rather warn at load time.
var desCryptSupported = sync.OnceValue(func() error {
	if !desCryptMatch(desSelfTestPassword, desSelfTestHash) {
		return errors.New("the system crypt(3) does not support DES-crypt hashes")
	}
	return nil
})

// desCryptMatch reports whether crypt(3) of password with hash as setting
// reproduces hash. Only called for 13-char DES hashes (see hashFormats).
func desCryptMatch(password, hash string) bool {
	// A C string would silently cut the password at a NUL byte.
	if strings.IndexByte(password, 0) >= 0 || strings.IndexByte(hash, 0) >= 0 {
		return false
	}
	key, setting := C.CString(password), C.CString(hash)
	defer C.free(unsafe.Pointer(key))
	defer C.free(unsafe.Pointer(setting))
	var out [64]byte
	if C.realplexor_crypt(key, setting, (*C.char)(unsafe.Pointer(&out[0])), C.size_t(len(out))) != 0 {
		return false
	}
	got := C.GoString((*C.char)(unsafe.Pointer(&out[0])))
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}
