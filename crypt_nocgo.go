//go:build !cgo

package caddyrealplexor

import "errors"

// Without cgo there is no crypt(3) and no pure-Go DES-crypt module we can use,
// so DES lines load with a warning and never authenticate.
var errNoDESCrypt = errors.New("DES-crypt hashes need a build with cgo (libcrypt)")

func desCryptSupported() error { return errNoDESCrypt }

func desCryptMatch(password, hash string) bool { return false }
