package csr_test

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smallstep/pkcs7"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/amtrcs/amtrcs/csr"
	"github.com/amtrcs/amtrcs/csr/csrtest"
)

func mustP7(t testing.TB, certs ...*x509.Certificate) []byte {
	t.Helper()
	der, err := pkcs7.DegenerateCertificate(csrtest.DER(certs...))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

type zipEntry struct {
	name string
	data []byte
}

func mustZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeFormats(t *testing.T) {
	t.Parallel()
	v := csrtest.NewVendor(csrtest.VendorOptions{})
	leaf, key := v.Issue(csrtest.LeafOptions{})
	pfx, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{v.Intermediate, v.Root}, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	p7 := mustP7(t, v.Root, leaf, v.Intermediate)
	p7PEM := []byte("-----BEGIN PKCS7-----\n" + b64Lines(p7) + "-----END PKCS7-----\n")
	cases := map[string]struct {
		name    string
		data    []byte
		certs   int
		key     bool
		skipped int
	}{
		"PEM chain, any order":   {"chain.pem", csrtest.PEM(v.Root, leaf, v.Intermediate), 3, false, 0},
		"DER leaf in a .cer":     {"leaf.cer", leaf.Raw, 1, false, 0},
		"DER chain concatenated": {"chain.crt", csrtest.DER(leaf, v.Intermediate), 2, false, 0},
		"PEM with text around":   {"chain.crt", append([]byte("Subject: leaf\n"), csrtest.PEM(leaf)...), 1, false, 0},
		"PKCS#7 DER":             {"chain.p7b", p7, 3, false, 0},
		"PKCS#7 PEM":             {"chain.p7c", p7PEM, 3, false, 0},
		"PKCS#7 DER misnamed":    {"chain.cer", p7, 3, false, 0},
		"PFX":                    {"cert.pfx", pfx, 3, true, 0},
		"ZIP of files": {"delivery.zip", mustZip(t,
			zipEntry{"readme.txt", []byte("install me")},
			zipEntry{"certs/", nil},
			zipEntry{"certs/leaf.crt", leaf.Raw},
			zipEntry{"certs/chain.p7b", p7},
			zipEntry{"inner.zip", mustZip(t, zipEntry{"x.crt", leaf.Raw})},
		), 3, false, 2},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, err := csr.Decode(tc.name, tc.data, csr.DecodeOptions{Password: "s3cret"})
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Certificates) != tc.certs || (d.Key != nil) != tc.key || len(d.Skipped) != tc.skipped {
				t.Fatalf("certs %d key %v skipped %q; want %d %v %d", len(d.Certificates), d.Key != nil, d.Skipped, tc.certs, tc.key, tc.skipped)
			}
			ch, err := csr.BuildChain(d.Certificates, csr.ChainOptions{NoCompletion: true})
			if err != nil {
				t.Fatal(err)
			}
			if ch.Leaf() != nil && !bytes.Equal(ch.Leaf().Raw, leaf.Raw) {
				t.Fatalf("leaf %s, want %s", ch.Leaf().Subject, leaf.Subject)
			}
		})
	}
}

func TestDecodeRefusals(t *testing.T) {
	t.Parallel()
	v := csrtest.NewVendor(csrtest.VendorOptions{})
	leaf, key := v.Issue(csrtest.LeafOptions{})
	pfx, err := pkcs12.Modern.Encode(key, leaf, nil, "Pw-7f3a")
	if err != nil {
		t.Fatal(err)
	}
	bomb := bombZip(t, 20<<20, false)
	lying := bombZip(t, 20<<20, true)
	var many []zipEntry
	for i := 0; i < csr.MaxZipEntries+1; i++ {
		many = append(many, zipEntry{name: "c" + strings.Repeat("x", i%5) + ".txt", data: []byte("x")})
	}
	cases := map[string]struct {
		name, want string
		data       []byte
	}{
		"wrong PFX password":        {"cert.pfx", "cert.pfx: PFX password: the password given does not open the PFX; want the password the PFX was exported with; fix: put the right password in the file given to --password-file", pfx},
		"not a certificate":         {"notes.txt", "notes.txt: delivery format: neither PEM, DER, PKCS#7, PKCS#12 nor ZIP; want certificates as .cer/.crt/.pem (PEM or DER), .p7b/.p7c, .zip of those, or .pfx/.p12; fix: give the files the certificate vendor sent", []byte("hello, this is not a certificate\n")},
		"a CSR":                     {"req.pem", "req.pem: delivery format: a certificate signing request, not a certificate; want the certificate the vendor issued for it; fix: send the CSR to the vendor and import the certificate files it returns", []byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")},
		"a private key":             {"key.pem", "key.pem: delivery format: a PEM file with a PRIVATE KEY block; want certificates only; keys come from `amtrcs csr new` or inside a PFX; fix: import the certificate files alone, or a .pfx that holds the key and chain", []byte("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")},
		"zip bomb":                  {"bomb.zip", "ZIP archive: bomb.zip inflates to more than 10.0 MiB; want an archive of a few certificate files; fix: unpack the archive and give the certificate files", bomb},
		"zip bomb, lying header":    {"lying.zip", "ZIP archive: lying.zip!bomb.pem inflates to more than the 100 bytes its header declares; want an archive whose entries are what they declare; fix: unpack the archive with another tool and give the certificate files", lying},
		"zip with too many entries": {"many.zip", "ZIP archive: many.zip lists 65 entries; want at most 64; fix: unpack the archive and give the certificate files", mustZip(t, many...)},
		"zip without certificates":  {"docs.zip", "delivery format: a ZIP archive with no certificate file (docs.zip!a.txt (not a certificate file)); want certificates as .cer/.crt/.pem (PEM or DER), .p7b/.p7c, .zip of those, or .pfx/.p12; fix: give the files the certificate vendor sent", mustZip(t, zipEntry{"a.txt", []byte("x")})},
		"truncated DER":             {"leaf.cer", "leaf.cer: delivery format: neither PEM, DER, PKCS#7, PKCS#12 nor ZIP; want certificates as .cer/.crt/.pem (PEM or DER), .p7b/.p7c, .zip of those, or .pfx/.p12; fix: give the files the certificate vendor sent", leaf.Raw[:200]},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := csr.Decode(tc.name, tc.data, csr.DecodeOptions{Password: "Pw-91bc"})
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, csr.ErrUnreadable) {
				t.Errorf("error is not ErrUnreadable: %v", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "Pw-7f3a") {
				t.Errorf("error shows a password: %s", err)
			}
		})
	}
}

// bombZip makes an archive with one .pem entry inflating to size bytes;
// with lie, its header claims 100 bytes.
func bombZip(t testing.TB, size int, lie bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if !lie {
		w, err := zw.Create("bomb.pem")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	} else {
		// Deflate the zeros ourselves and write them raw under a header
		// that lies about the inflated size.
		var raw bytes.Buffer
		rw := zip.NewWriter(&raw)
		w, err := rw.Create("bomb.pem")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		rw.Close()
		zr, err := zip.NewReader(bytes.NewReader(raw.Bytes()), int64(raw.Len()))
		if err != nil {
			t.Fatal(err)
		}
		f := zr.File[0]
		rc, err := f.OpenRaw()
		if err != nil {
			t.Fatal(err)
		}
		hdr := f.FileHeader
		hdr.UncompressedSize64 = 100
		ww, err := zw.CreateRaw(&hdr)
		if err != nil {
			t.Fatal(err)
		}
		var comp bytes.Buffer
		if _, err := comp.ReadFrom(rc); err != nil {
			t.Fatal(err)
		}
		if _, err := ww.Write(comp.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadFileTooLarge(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "big.cer")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse 50 MB file: refused from its size, before it is read.
	if err := f.Truncate(50_000_000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = csr.ReadDelivery([]string{p}, csr.DecodeOptions{})
	want := p + ": file size: " + p + " is 47.7 MiB or more; want at most 10.0 MiB (a certificate delivery is a few KiB); fix: give the certificate files the vendor sent, not a larger archive or another file"
	if err == nil || err.Error() != want || !errors.Is(err, csr.ErrUnreadable) {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
}

func b64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 64 {
		out.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	return out.String() + s + "\n"
}
