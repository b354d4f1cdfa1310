package amt

import "testing"

func TestParseVersion(t *testing.T) {
	t.Parallel()
	good := map[string]Version{
		"16":      {Major: 16},
		"16.1":    {Major: 16, Minor: 1},
		"11.8.65": {Major: 11, Minor: 8, Build: 65},
		" 19 ":    {Major: 19},
	}
	for in, want := range good {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "16.", ".1", "1.2.3.4", "-1", "16.a", "99999"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q): no error", in)
		}
	}
	if !(Version{Major: 11, Minor: 8, Build: 64}).Less(Version{Major: 11, Minor: 8, Build: 65}) {
		t.Error("11.8.64 should be less than 11.8.65")
	}
	if !(Version{Major: 16}).AtLeast(Version{Major: 16}) || (Version{Major: 12}).AtLeast(Version{Major: 16}) {
		t.Error("AtLeast is wrong")
	}
}
