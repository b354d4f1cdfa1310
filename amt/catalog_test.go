package amt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// referencePins is the table of reference §2, copied from the reference text
// (not from catalog.go), so that a changed hash, name or Debian flag in the
// catalog fails here even for roots no test can hash.
var referencePins = []struct {
	name   string
	alg    HashAlgorithm
	hash   string
	debian bool
}{
	{"VeriSign Class 3 Public Primary CA (G1)", HashSHA256, "E7685634EFACF69ACE939A6B255B7B4FABEF42935B50A265ACB5CB6027E44E70", false},
	{"VeriSign Class 3 Public Primary CA - G3", HashSHA256, "EB04CF5EB1F39AFA762F2BB120F296CBA520C1B97DB1589565B81CB9A17B7244", false},
	{"Go Daddy Class 2 CA", HashSHA256, "C3846BF24B9E93CA64274C0EC67C1ECC5E024FFCACD2D74019350E81FE546AE4", true},
	{"Comodo AAA Certificate Services (Sectigo)", HashSHA256, "D7A7A0FB5D7E2731D771E9484EBCDEF71D5F0C3E0A2948782BC83EE0EA699EF4", true},
	{"Starfield Class 2 CA", HashSHA256, "1465FA205397B876FAA6F0A9958E5590E40FCC7FAA4FB7C2C8677521FB5FB658", true},
	{"VeriSign Class 3 Public Primary CA - G2", HashSHA256, "83CE3C1229688A593D485F81973C0F9195431EDA37CC5E36430E79C7A888638B", false},
	{"VeriSign Class 3 Public Primary CA (G1.5)", HashSHA256, "A4B6B3996FC2F306B3FD8681BD63413D8C5009CC4FA329C2CCF0E2FA1B140305", false},
	{"VeriSign Class 3 Public Primary CA - G5", HashSHA256, "9ACFAB7E43C8D880D06B262A94DEEEE4B4659989C3D0CAF19BAF6405E41AB7DF", false},
	{"GTE CyberTrust Global Root", HashSHA256, "A53125188D2110AA964B02C7B7C6DA3203170894E5FB71FFFB6667D5E6810A36", false},
	{"Baltimore CyberTrust Root", HashSHA256, "16AF57A9F676B0AB126095AA5EBADEF22AB31119D644AC95CD4B93DBF3F26AEB", true},
	{"Cybertrust Global Root", HashSHA256, "960ADF0063E96356750C2965DD0A0867DA0B9CBD6E77714AEAFB2349AB393DA3", false},
	{"Verizon Global Root CA", HashSHA256, "68AD50909B04363C605EF13581A939FF2C96372E3F12325B0A6861E1D59F6603", false},
	{"Entrust.net CA (2048)", HashSHA256, "6DC47172E01CBCB0BF62580D895FE2B8AC9AD4F873801E0C10B9C837D21EB177", true},
	{"Entrust Root Certification Authority", HashSHA256, "73C176434F1BC6D5ADF45B0E76E727287C8DE57616C1E6E6141A2B2CBC7D8E4C", true},
	{"VeriSign Universal Root CA", HashSHA256, "2399561127A57125DE8CEFEA610DDF2FA078B5C8067F4E828290BFB860E84B3C", false},
	{"Go Daddy Root Certificate Authority - G2", HashSHA256, "45140B3247EB9CC8C5B4F0D7B53091F73292089E6E5A63E2749DD3ACA9198EDA", true},
	{"Entrust Root Certification Authority - G2", HashSHA256, "43DF5774B03E7FEF5FE40D931A7BEDF1BB2E6B42738C4E6D3841103D3AA7F339", true},
	{"Starfield Root Certificate Authority - G2", HashSHA256, "2CE1CB0BF9D2F9E102993FBE215152C3B2DD0CABDE1C68E5319B839154DBB7F5", true},
	{"AffirmTrust Premium", HashSHA256, "70A73F7F376B60074248904534B11482D5BF0E698ECC498DF52577EBF2E93B9A", true},
	{"DigiCert Global Root CA", HashSHA256, "4348A0E9444C78CB265E058D5E8944B4D84F9662BD26DB257F8934A443C70161", true},
	{"DigiCert Global Root G2", HashSHA256, "CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F", true},
	{"DigiCert Global Root G3", HashSHA256, "31AD6648F8104138C738F39EA4320133393E3A18CC02296EF97C2AC9EF6731D0", true},
	{"DigiCert Trusted Root G4", HashSHA256, "552F7BDCF1A7AF9E6CE672017F4F12ABF77240C78E761AC203D1D9D20AC89988", true},
	{"GlobalSign NP RSA CA 2018", HashSHA256, "67540A47AA5B9F34570A99723CFEFA96A96EE3F0D9B8BF4DEF9440B8065D665D", false},
	{"GlobalSign NP ECC CA 2018", HashSHA256, "7224395222CD588C4F2683716922ADDB41E39B581AC34FA87B39EFA896FBB39E", false},
	{"GlobalSign Root CA - R3", HashSHA256, "CBB522D7B7F127AD6A0113865BDF1CD4102E7D0759AF635A7CF4720DC963C53B", true},
	{"GlobalSign ECC Root CA - R5", HashSHA256, "179FBC148A3DD00FD24EA13458CC43BFA7F59C8182D783A513F6EBEC100C8924", true},
	{"GlobalSign Root CA - R6", HashSHA256, "2CABEAFE37D06CA22ABA7391C0033D25982952C453647349763A3AB5AD6CCF69", true},
	{"Unknown root (seen on a recent device)", HashSHA256, "A267C480B0B29056EB5E8AA7C93ADD804F5A7DF516E969E77BCACAFE8D456079", false},
	{"VeriSign Class 3 Public Primary CA (G1)", HashSHA1, "742C3192E607E424EB4549542BE1BBC53E6174E2", false},
	{"VeriSign Class 3 Public Primary CA (G1.5)", HashSHA1, "A1DB6393916F17E4185509400415C70240B0AE6B", false},
	{"VeriSign Class 3 Public Primary CA - G2", HashSHA1, "85371CA6E550143DCE2803471BDE3A09E8F8770F", false},
	{"VeriSign Class 3 Public Primary CA - G3", HashSHA1, "132D0D45534B6997CDB2D5C339E25576609B5CC6", false},
	{"VeriSign Class 3 Public Primary CA - G5", HashSHA1, "4EB6D578499B1CCF5F581EAD56BE3D9B6744A5E5", false},
	{"Go Daddy Class 2 CA", HashSHA1, "2796BAE63F1801E277261BA0D77770028F20EEE4", true},
	{"Comodo AAA Certificate Services (Sectigo)", HashSHA1, "D1EB23A46D17D68FD92564C2F1F1601764D8E349", true},
	{"Starfield Class 2 CA", HashSHA1, "AD7E1C28B064EF8F6003402014C3D0E3370EB58A", true},
}

func TestCatalogMatchesReference(t *testing.T) {
	t.Parallel()
	cat := Catalog()
	if len(cat) != len(referencePins) {
		t.Fatalf("catalog has %d entries, reference §2 has %d", len(cat), len(referencePins))
	}
	for i, pin := range referencePins {
		e := cat[i]
		if e.Name != pin.name || e.Algorithm != pin.alg || e.HashHex() != pin.hash || e.InDebian != pin.debian {
			t.Errorf("entry %d = {%q %s %s debian=%v}; want {%q %s %s debian=%v}",
				i, e.Name, e.Algorithm, e.HashHex(), e.InDebian, pin.name, pin.alg, pin.hash, pin.debian)
		}
	}
	var n256, n1 int
	for _, e := range cat {
		switch e.Algorithm {
		case HashSHA256:
			n256++
		case HashSHA1:
			n1++
		}
		if len(e.Hash) != e.Algorithm.Size() {
			t.Errorf("%s %s: %d bytes, want %d", e.Name, e.Algorithm, len(e.Hash), e.Algorithm.Size())
		}
	}
	if n256 != 29 || n1 != 8 {
		t.Errorf("catalog has %d SHA-256 and %d SHA-1 entries; want 29 and 8", n256, n1)
	}
}

func TestCatalogIsACopy(t *testing.T) {
	t.Parallel()
	a := Catalog()
	a[0].Hash[0] ^= 0xFF
	a[0].Versions[0].From = Version{Major: 99}
	b := Catalog()
	if b[0].Hash[0] == a[0].Hash[0] || b[0].Versions[0].From.Major == 99 {
		t.Fatal("changing Catalog()'s result changed the catalog")
	}
}

func v3(s string) Version {
	ver, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return ver
}

func TestCatalogVersions(t *testing.T) {
	t.Parallel()
	const (
		g1  = "VeriSign Class 3 Public Primary CA (G1)"
		g3  = "VeriSign Class 3 Public Primary CA - G3"
		gd  = "Go Daddy Class 2 CA"
		dg2 = "DigiCert Global Root G2"
	)
	cases := []struct {
		name    string
		alg     HashAlgorithm
		version string
		want    bool
	}{
		{g1, HashSHA1, "6.2", false},
		{g1, HashSHA1, "7", true},
		{g1, HashSHA1, "10.0.55", true},
		{g1, HashSHA1, "11", false}, // ME 11.0 removed the SHA-1 defaults
		{gd, HashSHA1, "10.9.9999", true},
		{gd, HashSHA1, "16", false},
		{g1, HashSHA256, "10", false},
		{g1, HashSHA256, "11", true},
		{g1, HashSHA256, "11.8.64", true},
		{g1, HashSHA256, "11.8.65", false}, // removed in 11.8.65
		{g1, HashSHA256, "11.9", false},
		{g1, HashSHA256, "12", true},
		{g1, HashSHA256, "12.0.31", true},
		{g1, HashSHA256, "12.0.32", false}, // removed in 12.0.32
		{g1, HashSHA256, "16", false},
		{g3, HashSHA256, "11.8.65", true},
		{g3, HashSHA256, "19", true},
		{dg2, HashSHA256, "16.1.27", true},
		{dg2, HashSHA256, "10", false},
	}
	for _, c := range cases {
		e := findCatalog(t, c.name, c.alg)
		if got := e.In(v3(c.version)); got != c.want {
			t.Errorf("%s %s in %s = %v; want %v", c.name, c.alg, c.version, got, c.want)
		}
	}
}

func findCatalog(t *testing.T, name string, alg HashAlgorithm) CatalogEntry {
	t.Helper()
	for _, e := range Catalog() {
		if e.Name == name && e.Algorithm == alg {
			return e
		}
	}
	t.Fatalf("no catalog entry %q %s", name, alg)
	return CatalogEntry{}
}

func TestVersionRangeString(t *testing.T) {
	t.Parallel()
	cases := map[string]VersionRange{
		">=11.0":          {From: Version{Major: 11}},
		">=11.0 <11.8.65": {From: Version{Major: 11}, Before: Version{Major: 11, Minor: 8, Build: 65}},
	}
	for want, r := range cases {
		if r.String() != want {
			t.Errorf("String() = %q; want %q", r.String(), want)
		}
		b, err := json.Marshal(r)
		var got string
		if err != nil || json.Unmarshal(b, &got) != nil || got != want {
			t.Errorf("json = %s, %v; want %q", b, err, want)
		}
	}
}

func TestCarriers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		alg  HashAlgorithm
		want string
	}{
		{"VeriSign Class 3 Public Primary CA (G1)", HashSHA256, "AMT 11,AMT 12"},
		{"VeriSign Class 3 Public Primary CA (G1)", HashSHA1, "AMT 7"},
		{"DigiCert Global Root G2", HashSHA256, "AMT 11,AMT 12,AMT 16,AMT 19"},
	}
	for _, c := range cases {
		if got := strings.Join(findCatalog(t, c.name, c.alg).Carriers(), ","); got != c.want {
			t.Errorf("%s %s carried by %q; want %q", c.name, c.alg, got, c.want)
		}
	}
}

func TestLookupRootUnknown(t *testing.T) {
	t.Parallel()
	for _, der := range [][]byte{nil, {}, []byte("not a certificate"), bytes.Repeat([]byte{0x30}, 1000)} {
		if e, ok := LookupRoot(der); ok {
			t.Errorf("LookupRoot(%q) found %q", der, e.Name)
		}
	}
}

func TestParseHash(t *testing.T) {
	t.Parallel()
	const g3 = "EB04CF5EB1F39AFA762F2BB120F296CBA520C1B97DB1589565B81CB9A17B7244"
	good := []struct {
		in   string
		alg  HashAlgorithm
		want string
	}{
		{g3, HashSHA256, g3},
		{strings.ToLower(g3), HashSHA256, g3},
		{"eb:04:cf:5e:b1:f3:9a:fa:76:2f:2b:b1:20:f2:96:cb:a5:20:c1:b9:7d:b1:58:95:65:b8:1c:b9:a1:7b:72:44", HashSHA256, g3},
		{"74 2c 31 92 e6 07 e4 24 eb 45 49 54 2b e1 bb c5 3e 61 74 e2", HashSHA1, "742C3192E607E424EB4549542BE1BBC53E6174E2"},
		{"  742C3192E607E424EB4549542BE1BBC53E6174E2\n", HashSHA1, "742C3192E607E424EB4549542BE1BBC53E6174E2"},
		{strings.Repeat("ab", 48), HashSHA384, strings.Repeat("AB", 48)},
		{strings.Repeat("01", 16), HashMD5, strings.Repeat("01", 16)},
		{strings.Repeat("01", 28), HashSHA224, strings.Repeat("01", 28)},
		{strings.Repeat("01", 64), HashSHA512, strings.Repeat("01", 64)},
	}
	for _, c := range good {
		alg, h, err := ParseHash(c.in)
		if err != nil || alg != c.alg || FormatHash(h) != c.want {
			t.Errorf("ParseHash(%q) = %s, %X, %v; want %s, %s", c.in, alg, h, err, c.alg, c.want)
		}
	}
	bad := map[string]string{
		"":     "no hex digits",
		" :: ": "no hex digits",
		"742C3192E607E424EB4549542BE1BBC53E6174E":    "odd count",
		"742C3192E607E424EB4549542BE1BBC53E6174":     "38 hex digits",
		"0x742C3192E607E424EB4549542BE1BBC53E6174E2": "not a hex digit",
		g3 + "00": "66 hex digits",
		"EB-04":   "not a hex digit",
		"é":       "not a hex digit",
	}
	for in, want := range bad {
		_, _, err := ParseHash(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "want") {
			t.Errorf("ParseHash(%q) error %v; want one containing %q and the wanted form", in, err, want)
		}
	}
}

func FuzzParseHash(f *testing.F) {
	for _, s := range []string{
		"EB04CF5EB1F39AFA762F2BB120F296CBA520C1B97DB1589565B81CB9A17B7244",
		"74:2c:31:92:e6:07:e4:24:eb:45:49:54:2b:e1:bb:c5:3e:61:74:e2",
		"", "zz", "0", "a b", "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		alg, h, err := ParseHash(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		if len(h) != alg.Size() {
			t.Fatalf("%q: %d bytes for %s", s, len(h), alg)
		}
		alg2, h2, err := ParseHash(hex.EncodeToString(h))
		if err != nil || alg2 != alg || !bytes.Equal(h, h2) {
			t.Fatalf("%q does not round-trip: %s %X %v", s, alg2, h2, err)
		}
	})
}

func TestHashAlgorithms(t *testing.T) {
	t.Parallel()
	// Digests of "abc" (FIPS 180 and RFC 1321 test vectors).
	cases := []struct {
		code  uint8
		alg   HashAlgorithm
		name  string
		size  int
		abc   string
		names []string
	}{
		{0, HashMD5, "MD5", 16, "900150983cd24fb0d6963f7d28e17f72", []string{"md5", "MD5"}},
		{1, HashSHA1, "SHA-1", 20, "a9993e364706816aba3e25717850c26c9cd0d89d", []string{"sha1", "SHA-1", "sha_1"}},
		{2, HashSHA256, "SHA-256", 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", []string{"sha256", "SHA-256", " Sha256 "}},
		{3, HashSHA384, "SHA-384", 48, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7", []string{"sha384", "SHA-384"}},
		{4, HashSHA224, "SHA-224", 28, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7", []string{"sha224"}},
		{5, HashSHA512, "SHA-512", 64, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", []string{"sha512", "SHA-512"}},
	}
	if got := HashAlgorithms(); len(got) != len(cases) {
		t.Fatalf("HashAlgorithms() = %v; want %d", got, len(cases))
	}
	for _, c := range cases {
		if uint8(c.alg) != c.code || c.alg.String() != c.name || c.alg.Size() != c.size || !c.alg.Known() {
			t.Errorf("code %d: %d %q size %d; want %q size %d", c.code, uint8(c.alg), c.alg, c.alg.Size(), c.name, c.size)
		}
		if got := hex.EncodeToString(c.alg.Sum([]byte("abc"))); got != c.abc {
			t.Errorf("%s(abc) = %s; want %s", c.name, got, c.abc)
		}
		for _, n := range c.names {
			if a, err := HashAlgorithmByName(n); err != nil || a != c.alg {
				t.Errorf("HashAlgorithmByName(%q) = %s, %v; want %s", n, a, err, c.alg)
			}
		}
		if a, err := HashAlgorithmBySize(c.size); err != nil || a != c.alg {
			t.Errorf("HashAlgorithmBySize(%d) = %s, %v; want %s", c.size, a, err, c.alg)
		}
		b, err := json.Marshal(c.alg)
		var back HashAlgorithm
		if err != nil || string(b) != `"`+c.name+`"` || json.Unmarshal(b, &back) != nil || back != c.alg {
			t.Errorf("%s JSON = %s, %v; round trip %s", c.name, b, err, back)
		}
	}
	unknown := HashAlgorithm(6)
	if unknown.Known() || unknown.Size() != 0 || unknown.Sum([]byte("abc")) != nil || !strings.Contains(unknown.String(), "unknown") {
		t.Error("code 6 should be unknown, size 0, no sum")
	}
	if _, err := json.Marshal(unknown); err == nil {
		t.Error("marshalling code 6 should fail")
	}
	for _, n := range []string{"sha_256", " Sha-256 ", "SHA 256", "s-h-a_2 5 6"} {
		if a, err := HashAlgorithmByName(n); err != nil || a != HashSHA256 {
			t.Errorf("HashAlgorithmByName(%q) = %s, %v; want SHA-256", n, a, err)
		}
	}
	for _, n := range []string{"", "sha3", "sha-2", "SHA256x", "sha.256"} {
		if _, err := HashAlgorithmByName(n); err == nil {
			t.Errorf("HashAlgorithmByName(%q): no error", n)
		}
	}
	for _, n := range []int{0, 1, 19, 21, 65} {
		if _, err := HashAlgorithmBySize(n); err == nil {
			t.Errorf("HashAlgorithmBySize(%d): no error", n)
		}
	}
}
