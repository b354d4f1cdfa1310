package rcs

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever a login link's ?next= holds, the browser is sent
// to a path of the dashboard on this server, never elsewhere.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"", "/ui/", "/ui/devices/pc-1?x=1", "//evil.example/ui/", "/ui//evil", "https://evil.example/ui/",
		"/ui/\\evil", "/ui/\r\nSet-Cookie: x", "/uix", "ui/", "/ui/%2f%2fevil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, webPath) || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q: not a dashboard path", next, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("safeNext(%q) = %q: leaves the server (%v)", next, got, err)
		}
		if got != webPath && got != next {
			t.Fatalf("safeNext(%q) = %q: changed a path it kept", next, got)
		}
	})
}

// FuzzWords: a list typed in a form splits into non-empty words without
// separators.
func FuzzWords(f *testing.F) {
	for _, s := range []string{"", "a.example.com", "a.example.com, b.example.com", " ,\n\t,", "x,,y  z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, w := range words(s) {
			if w == "" || strings.ContainsAny(w, ", \n\t\r") {
				t.Fatalf("words(%q) has %q", s, w)
			}
		}
	})
}
