package rcs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"
)

// maxBody bounds request bodies: the largest is a profile or domain.
const maxBody = 64 << 10

// readJSON is the one reader of every JSON request body: at most maxBody
// bytes, valid UTF-8, exactly one JSON value with only documented fields,
// nothing after it.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiErr(http.StatusRequestEntityTooLarge, "request body size", fmt.Sprintf("more than %d bytes", mbe.Limit), fmt.Sprintf("at most %d bytes", maxBody), "send one JSON object with the documented fields")
		}
		return apiErr(http.StatusBadRequest, "request body", "the body could not be read: "+err.Error(), "a complete body within the server's read timeout", "send the whole body at once")
	}
	return decodeJSON(data, v)
}

// decodeJSON decodes one request body. encoding/json would take invalid
// UTF-8 (replacing it) and ignore what follows the first value; both hide a
// client's mistake, or a smuggled second value, so both are refused.
func decodeJSON(data []byte, v any) error {
	if !utf8.Valid(data) {
		i := invalidUTF8At(data)
		return apiErr(http.StatusBadRequest, "request body encoding", fmt.Sprintf("invalid UTF-8 at byte %d", i), "UTF-8 text", "encode the body as UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apiErr(http.StatusBadRequest, "request body", err.Error(), "one JSON object with the documented fields", "send Content-Type application/json with a valid body")
	}
	// The trailing data is not echoed: it may be a credential.
	if _, err := dec.Token(); err != io.EOF {
		return apiErr(http.StatusBadRequest, "request body", fmt.Sprintf("data after the JSON value, which ends at byte %d", dec.InputOffset()), "exactly one JSON value", "send one JSON object and nothing after it")
	}
	return nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
