package capture

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
)

func TestBlankXML(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"admin setup": {
			`<h:AdminSetup_INPUT><h:NetworkAdminPassword>abc123</h:NetworkAdminPassword><h:McNonce>bm9uY2U=</h:McNonce><h:SigningAlgorithm>2</h:SigningAlgorithm><h:DigitalSignature>c2ln</h:DigitalSignature></h:AdminSetup_INPUT>`,
			`<h:AdminSetup_INPUT><h:NetworkAdminPassword></h:NetworkAdminPassword><h:McNonce></h:McNonce><h:SigningAlgorithm>2</h:SigningAlgorithm><h:DigitalSignature></h:DigitalSignature></h:AdminSetup_INPUT>`,
		},
		"setting kept":     {`<g:PasswordModel>1</g:PasswordModel>`, `<g:PasswordModel>1</g:PasswordModel>`},
		"nonce in reply":   {`<ConfigurationNonce a="1">xyz</ConfigurationNonce>`, `<ConfigurationNonce a="1"></ConfigurationNonce>`},
		"mebx":             {`<p:Password>Mebx-Pa55!</p:Password>`, `<p:Password></p:Password>`},
		"digest password":  {`<q:DigestPassword>AAAA</q:DigestPassword>`, `<q:DigestPassword></q:DigestPassword>`},
		"never closed":     {`<x:Password>secret and more`, `<x:Password>`},
		"self closing":     {`<x:Password/><y>1</y>`, `<x:Password/><y>1</y>`},
		"other namespaces": {`<a:McNonce>1</b:McNonce>2</a:McNonce>`, `<a:McNonce></a:McNonce>`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, _ := BlankXML([]byte(tt.in))
			if string(got) != tt.want {
				t.Errorf("BlankXML(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestBlankAuth(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"authorization": {`Digest username="admin", realm="Digest:1", nonce="n1", uri="/wsman", cnonce="c1", nc=00000001, qop=auth, response="r1"`,
			`Digest username="admin", realm="Digest:1", nonce="(blanked)", uri="/wsman", cnonce="(blanked)", nc=00000001, qop=auth, response="(blanked)"`},
		"challenge": {`Digest realm="Digest:1", nonce="n1", stale="false", qop="auth"`, `Digest realm="Digest:1", nonce="(blanked)", stale="false", qop="auth"`},
		"basic":     {`Basic YWRtaW46cA==`, Blank},
	}
	for name, tt := range tests {
		if got := blankAuth(tt.in); got != tt.want {
			t.Errorf("%s: blankAuth = %s, want %s", name, got, tt.want)
		}
	}
}

func TestBlankHostReply(t *testing.T) {
	body := make([]byte, 4+66+2)
	copy(body[4:], "$$OsAdmin")
	copy(body[4+33:], "s3cret-pass")
	reply := append(make([]byte, amt.HostHeaderLen), body...)
	reply[0], reply[1] = amt.HostVersionMajor, amt.HostVersionMinor
	v := uint32(amt.CmdGetLocalSystemAccount.Response())
	reply[4], reply[5], reply[6], reply[7] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	out, user, pass := BlankHostReply(reply)
	if user != "$$OsAdmin" || pass != "s3cret-pass" || bytes.Contains(out, []byte("s3cret")) || bytes.Contains(out, []byte("OsAdmin")) || len(out) != len(reply) {
		t.Errorf("BlankHostReply: user %q pass %q, out %x", user, pass, out)
	}
	if !bytes.Contains(reply, []byte("s3cret")) {
		t.Error("BlankHostReply changed its input")
	}
	other := []byte{1, 1, 0, 0, 0x5c, 0, 0x80, 4, 4, 0, 0, 0, 0, 0, 0, 0}
	if out, u, _ := BlankHostReply(other); !bytes.Equal(out, other) || u != "" {
		t.Errorf("a GetUUID reply was changed: %x", out)
	}
}

func TestParseRefusals(t *testing.T) {
	header := `{"format":"amtrcs-capture/1","amtrcs":"test","backend":"x"}` + "\n"
	tests := map[string]struct{ in, want string }{
		"empty":      {"", "empty"},
		"no header":  {`{"kind":"pthi"}`, "line 1"},
		"kind":       {header + `{"kind":"ftp"}`, `kind "ftp"`},
		"hex":        {header + `{"kind":"pthi","request":"zz","reply":""}`, "not hex"},
		"no request": {header + `{"kind":"mng","reply":"00"}`, "without a request"},
		"http port":  {header + `{"kind":"http","port":80,"request":"GET / HTTP/1.1\r\n\r\n"}`, "port 80"},
		"http text":  {header + `{"kind":"http","port":16992,"request":"hello"}`, "not an HTTP request"},
		"tls":        {header + `{"kind":"tls","port":16993,"sent":-1}`, "counts"},
		"json":       {header + `{"kind":`, "line 2"},
	}
	for name, tt := range tests {
		_, err := Parse(strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tt.want)
		}
	}
}

// FuzzParse holds the parser to its contract on outside input: an error or
// records that each pass their check, never a panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "amtsim", "testdata", "captures", "*.jsonl"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	header := `{"format":"amtrcs-capture/1"}` + "\n"
	f.Add([]byte(header + `{"kind":"pthi","request":"` + hex.EncodeToString([]byte{1, 1, 0, 0}) + `","reply":""}`))
	f.Add([]byte(header + `{"kind":"http","port":16992,"request":"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n<a","reply":"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}`))
	f.Add([]byte(header + `{"kind":"tls","port":16993,"sent":10,"received":20}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range c.Records {
			if err := r.check(); err != nil {
				t.Fatalf("Parse kept a record its check refuses: %v", err)
			}
		}
	})
}
