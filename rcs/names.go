package rcs

import (
	"fmt"
	"net/http"
	"unicode/utf8"
)

// MaxNameLen bounds the names the API stores (profiles, domains): they are
// store keys and parts of secret names, and the store refuses long keys.
const MaxNameLen = 128

// checkName refuses an over-long name before it reaches the store, naming
// the limit. What else a name may hold is the validation of its kind.
func checkName(kind, name string) error {
	if len(name) <= MaxNameLen {
		return nil
	}
	short := name
	for len(short) > 32 || !utf8.ValidString(short) {
		short = short[:len(short)-1]
	}
	return apiErr(http.StatusBadRequest, kind+" name length", fmt.Sprintf("%d bytes (%q...)", len(name), short), fmt.Sprintf("at most %d bytes", MaxNameLen), "choose a shorter name")
}
