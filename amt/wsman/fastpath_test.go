package wsman

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fastPathSeeds are every reference response and every golden request, plus
// hand-made envelopes that exercise the rules the fast paths copy from
// encoding/xml: repeated and nested elements, foreign namespaces, several
// SelectorSets, several Bodies, a Body before the Header, split text.
func fastPathSeeds(t testing.TB) [][]byte {
	t.Helper()
	var seeds [][]byte
	for _, name := range referenceFiles(t) {
		data, err := os.ReadFile(filepath.Join(responsesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	golden, err := filepath.Glob("testdata/requests/*.xml")
	if err != nil || len(golden) == 0 {
		t.Fatalf("golden requests: %v (%d files)", err, len(golden))
	}
	for _, name := range golden {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				seeds = append(seeds, line)
			}
		}
	}
	const open = `<s:Envelope xmlns:s="` + NSSOAP + `" xmlns:a="` + NSAddressing + `" xmlns:w="` + NSWSMan + `" xmlns:h="` + ResourceHostBasedSetupService + `">`
	for _, s := range []string{
		open + `<s:Header><a:Action>one</a:Action><a:Action> two </a:Action><a:To>x<b>skipped</b>y<!-- c -->z</a:To></s:Header><s:Body/></s:Envelope>`,
		open + `<s:Header><a:ReplyTo><a:Address>p</a:Address></a:ReplyTo><a:ReplyTo><x/></a:ReplyTo><Action>no namespace</Action></s:Header><s:Body/></s:Envelope>`,
		open + `<s:Header><w:SelectorSet><w:Selector Name="A">1</w:Selector><a:Selector Name="B">2</a:Selector></w:SelectorSet><w:SelectorSet><w:Selector Name="C"> <a:EndpointReference><a:Address>q</a:Address></a:EndpointReference> </w:Selector></w:SelectorSet><a:SelectorSet><w:Selector Name="D"/></a:SelectorSet></s:Header><s:Body/></s:Envelope>`,
		open + `<s:Header><a:MessageID>&lt;&#65;<![CDATA[x]]></a:MessageID><w:ResourceURI/><w:OperationTimeout>PT1S</w:OperationTimeout></s:Header><s:Body/></s:Envelope>`,
		open + `<s:Body><h:AdminSetup_INPUT><h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType></h:AdminSetup_INPUT></s:Body><s:Header><a:Action>late</a:Action></s:Header></s:Envelope>`,
		open + `<s:Header><a:Action>first</a:Action></s:Header><s:Body><s:Fault/></s:Body><s:Body xmlns:g="` + NSEnumeration + `"><g:Pull><g:EnumerationContext>c</g:EnumerationContext><g:MaxElements>x</g:MaxElements></g:Pull><extra/></s:Body></s:Envelope>`,
		open + `<s:Header><a:Action>a</a:Action></s:Header><s:Body><h:AdminSetup_INPUT xmlns:y="urn:y" y:attr="v"><h:SigningAlgorithm>two</h:SigningAlgorithm></h:AdminSetup_INPUT></s:Body></s:Envelope>`,
		open + `<s:Header><w:SelectorSet><w:Selector Name="E"><bad</w:Selector></w:SelectorSet></s:Header><s:Body/></s:Envelope>`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// headerBoth decodes the first Header element of data with decodeHeader and
// with encoding/xml's reflection, reporting both outcomes.
func headerBoth(data []byte) (fast, slow Header, fastErr, slowErr error, found bool) {
	decodeWith := func(f func(d *xml.Decoder, h *Header, start *xml.StartElement) error) (Header, error, bool) {
		var h Header
		d, _, done := newDecoder(bytes.NewReader(data), Limits{MaxBodyBytes: 1 << 16, MaxDepth: 32})
		defer done()
		for {
			t, err := d.Token()
			if err != nil {
				return h, nil, false
			}
			if s, ok := t.(xml.StartElement); ok && s.Name.Space == NSSOAP && s.Name.Local == "Header" {
				return h, f(d, &h, &s), true
			}
		}
	}
	fast, fastErr, found = decodeWith(func(d *xml.Decoder, h *Header, _ *xml.StartElement) error { return decodeHeader(d, h) })
	slow, slowErr, _ = decodeWith(func(d *xml.Decoder, h *Header, s *xml.StartElement) error { return d.DecodeElement(h, s) })
	return fast, slow, fastErr, slowErr, found
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func checkHeaderSame(t *testing.T, data []byte) {
	t.Helper()
	fast, slow, fastErr, slowErr, found := headerBoth(data)
	if !found {
		return
	}
	if errText(fastErr) != errText(slowErr) {
		t.Fatalf("decodeHeader error %v, encoding/xml error %v", fastErr, slowErr)
	}
	if fastErr == nil && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("decodeHeader gave\n%+v\nencoding/xml gave\n%+v", fast, slow)
	}
}

// bodyTargets are the request bodies handlers decode, and a few that do not
// match, so that errors are compared too.
var bodyTargets = []func() any{
	func() any { return &AdminSetupInput{} },
	func() any { return &PullRequest{} },
	func() any { return &GeneralSettings{} },
	func() any { return &ReturnOutput{} },
	func() any { return &AddNextCertInChainInput{} },
	func() any {
		return &struct {
			EnumerationContext string `xml:"EnumerationContext"`
		}{}
	},
}

// checkReplaySame holds a Request's replayed body to what a full decode of
// the envelope gives: the same value, presence and error text.
func checkReplaySame(t *testing.T, data []byte) {
	t.Helper()
	lim := Limits{MaxBodyBytes: 1 << 16, MaxDepth: 32}
	rec := new(bodyRecording)
	if _, _, err := decodeRecording(bytes.NewReader(data), lim, nil, rec); err != nil {
		return // the Mux answers a fault and no handler runs
	}
	for _, mk := range bodyTargets {
		fromReplay, full := mk(), mk()
		present, err := rec.decodeBody(fromReplay)
		_, wantPresent, wantErr := decodeEnvelope(bytes.NewReader(data), lim, full)
		if errText(err) != errText(wantErr) || present != wantPresent {
			t.Fatalf("%T: replay gave (%v, %v), full decode (%v, %v)", full, present, err, wantPresent, wantErr)
		}
		if !reflect.DeepEqual(fromReplay, full) {
			t.Fatalf("%T: replay gave\n%+v\nfull decode\n%+v", full, fromReplay, full)
		}
		// A second decode of the same request gives the same again.
		again := mk()
		if p2, err2 := rec.decodeBody(again); p2 != present || errText(err2) != errText(err) || !reflect.DeepEqual(again, fromReplay) {
			t.Fatalf("%T: second replay differs: (%v, %v) %+v", full, p2, err2, again)
		}
	}
}

func TestHeaderFastPathMatchesEncodingXML(t *testing.T) {
	t.Parallel()
	for i, data := range fastPathSeeds(t) {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkHeaderSame(t, data) })
	}
}

func TestRequestReplayMatchesFullDecode(t *testing.T) {
	t.Parallel()
	for i, data := range fastPathSeeds(t) {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkReplaySame(t, data) })
	}
}

// TestRequestDecodeOutsideMux keeps the answer of a Request that no Mux
// made: an empty body is a schema fault, as before.
func TestRequestDecodeOutsideMux(t *testing.T) {
	t.Parallel()
	var r Request
	err := r.Decode(&AdminSetupInput{})
	if !errors.Is(err, ErrSchemaValidation) || !strings.Contains(err.Error(), "no root element") {
		t.Fatalf("Decode on a bare Request = %v, want a SchemaValidationError fault naming the missing envelope", err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	for _, s := range fastPathSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkHeaderSame)
}

func FuzzRequestReplay(f *testing.F) {
	for _, s := range fastPathSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkReplaySame)
}

func TestMessageIDMatchesFormat(t *testing.T) {
	t.Parallel()
	for _, n := range []uint64{0, 1, 0xa, 0x2e4, 0xabcdef, 0xffffffffffff, 0x1000000000000, 1<<64 - 1} {
		want := "uuid:00000000-8086-8086-8086-" + fmt.Sprintf("%012X", n)
		if got := messageID(n); got != want {
			t.Errorf("messageID(%#x) = %q, want %q", n, got, want)
		}
	}
}

// TestEscapeMatchesEscapeText: the shortcut for values that need no
// escaping writes what xml.EscapeText writes, and is taken only for values
// that EscapeText leaves unchanged.
func TestEscapeMatchesEscapeText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "http://intel.com/x?y=1", "a<b", "a>b", "a&b", `a"b`, "a'b", "tab\t", "nl\n", "cr\r", "\x00", "\x7f", "é", "\xff", "\U0001F600", "uuid:1"} {
		var want bytes.Buffer
		_ = xml.EscapeText(&want, []byte(s))
		if !needsEscape(s) && want.String() != s {
			t.Errorf("needsEscape(%q) = false, but EscapeText writes %q", s, want.String())
		}
		var got bytes.Buffer
		escape(&got, s)
		if got.String() != want.String() {
			t.Errorf("escape(%q) = %q, want %q", s, got.String(), want.String())
		}
	}
}

// TestRequestDecodeConcurrent decodes one request from several goroutines,
// as a handler may; under -race this proves the replay shares nothing the
// decoder writes (it translates attribute names in place).
func TestRequestDecodeConcurrent(t *testing.T) {
	t.Parallel()
	data := []byte(`<s:Envelope xmlns:s="` + NSSOAP + `" xmlns:a="` + NSAddressing + `" xmlns:w="` + NSWSMan + `"><s:Header><a:Action>x</a:Action></s:Header>` +
		`<s:Body xmlns:h="` + ResourceHostBasedSetupService + `"><h:AdminSetup_INPUT xmlns:y="urn:y" y:a="1"><h:McNonce y:b="2">bm9uY2U=</h:McNonce></h:AdminSetup_INPUT></s:Body></s:Envelope>`)
	rec := new(bodyRecording)
	if _, _, err := decodeRecording(bytes.NewReader(data), Limits{}, nil, rec); err != nil {
		t.Fatal(err)
	}
	r := &Request{body: rec}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var in AdminSetupInput
			if err := r.Decode(&in); err != nil {
				errs <- err
				return
			}
			if in.McNonce != "bm9uY2U=" {
				errs <- fmt.Errorf("McNonce = %q", in.McNonce)
				return
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// parseDigestParamsByteWise is the parser before quoted values became
// slices of the header, kept to hold the new one to the same answers.
func parseDigestParamsByteWise(s string) map[string]string {
	out := make(map[string]string)
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		name := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			val = b.String()
			if i < len(s) {
				i++
			}
			s = s[i:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val = strings.TrimSpace(s[:end])
			s = s[end:]
		}
		if _, dup := out[name]; !dup {
			out[name] = val
		}
	}
	return out
}

func FuzzDigestParams(f *testing.F) {
	for _, s := range []string{
		`username="admin", realm="Digest:F3EB", nonce="abc", uri="/wsman", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1"`,
		`username="ad\"min", realm="a\\b", nonce="unterminated`,
		`a=1,b="",c="x\`, `="x"`, `A="1", a="2"`, `x="1"y="2"`, `  ,, q = "v" ,`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := parseDigestParams(s), parseDigestParamsByteWise(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("parseDigestParams(%q) = %q, want %q", s, got, want)
		}
	})
}
