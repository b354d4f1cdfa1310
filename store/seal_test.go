package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSecretNameBinding(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.newTest(t)
		defer s.Close()
		if err := s.PutSecret("device/a/admin", []byte("A-password-1")); err != nil {
			t.Fatal(err)
		}
		blob, err := s.Seal("ca/intermediate", []byte("ca key"))
		if err != nil {
			t.Fatal(err)
		}
		// Move sealed bytes around behind the API's back, as an attacker with
		// write access to the file could.
		err = s.be.update(func(tx backendTx) error {
			a, err := tx.get(Secrets, "device/a/admin")
			if err != nil {
				return err
			}
			if err := tx.put(Secrets, "device/b/admin", bytes.Clone(a)); err != nil {
				return err
			}
			return tx.put(Secrets, "ca/intermediate", blob)
		})
		if err != nil {
			t.Fatal(err)
		}
		sealedA, _ := s.rawSecret("device/a/admin")
		tests := map[string]func() ([]byte, error){
			"secret copied to another name": func() ([]byte, error) { return s.Secret("device/b/admin") },
			"blob planted as a secret":      func() ([]byte, error) { return s.Secret("ca/intermediate") },
			"blob opened under another name": func() ([]byte, error) {
				return s.Unseal("ca/root", blob)
			},
			"secret opened as a blob": func() ([]byte, error) { return s.Unseal("device/a/admin", sealedA) },
		}
		for name, f := range tests {
			t.Run(name, func(t *testing.T) {
				pt, err := f()
				if !errors.Is(err, ErrSealed) {
					t.Fatalf("got %q, %v; want ErrSealed", pt, err)
				}
			})
		}
		if pt, err := s.Secret("device/a/admin"); err != nil || string(pt) != "A-password-1" {
			t.Errorf("the original secret = %q, %v", pt, err)
		}
		if pt, err := s.Unseal("ca/intermediate", blob); err != nil || string(pt) != "ca key" {
			t.Errorf("Unseal under the right name = %q, %v", pt, err)
		}
	})
}

func (s *Store) rawSecret(name string) (v []byte, err error) {
	err = s.be.view(func(tx backendTx) error {
		sealed, err := tx.get(Secrets, name)
		v = bytes.Clone(sealed)
		return err
	})
	return v, err
}

func TestSealTamperAndNonces(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, b backendCase) {
		s := b.newTest(t)
		defer s.Close()
		pt := []byte("the same plaintext")
		a, err := s.Seal("n", pt)
		if err != nil {
			t.Fatal(err)
		}
		a2, _ := s.Seal("n", pt)
		if bytes.Equal(a, a2) || bytes.Equal(a[1:13], a2[1:13]) {
			t.Error("two seals of the same plaintext share a nonce")
		}
		if len(a) != len(pt)+sealOverhead {
			t.Errorf("sealed length %d, want %d", len(a), len(pt)+sealOverhead)
		}
		flip := func(i int) []byte { c := bytes.Clone(a); c[i] ^= 1; return c }
		cases := map[string][]byte{
			"version":    flip(0),
			"nonce":      flip(5),
			"ciphertext": flip(14),
			"tag":        flip(len(a) - 1),
			"truncated":  a[:sealOverhead-1],
			"empty":      nil,
		}
		for name, c := range cases {
			if got, err := s.Unseal("n", c); !errors.Is(err, ErrSealed) {
				t.Errorf("%s: Unseal = %q, %v; want ErrSealed", name, got, err)
			}
		}
		other, err := Open(filepath.Join(t.TempDir(), "other.db"), Options{KEK: KEKSource{Key: bytes.Repeat([]byte{1}, 32)}, Logger: quietLogger(), NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := other.Unseal("n", a); !errors.Is(err, ErrSealed) {
			t.Errorf("a store with another KEK opened the blob: %v", err)
		}
	})
}

// TestSecretsNotInPlaintextOnDisk scans the raw database file. A marker put
// in an entity is found by the same scan, so the scan itself works.
func TestSecretsNotInPlaintextOnDisk(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "amtrcs.db")
	s := openTest(t, path)
	secrets := map[string]string{
		"device/1/admin": "Adm1n-Passw0rd-One",
		"device/2/admin": "Adm1n-Passw0rd-Two",
		"ca/key":         "-----BEGIN EC PRIVATE KEY----- not really",
	}
	for name, v := range secrets {
		if err := s.PutSecret(name, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	// Overwrite one, so an old page could hold the old value if it were
	// ever plaintext.
	if err := s.PutSecret("device/1/admin", []byte("Rotated-Passw0rd-One")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(Devices, "1", device{ID: "1", Host: "control-marker-host"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("control-marker-host")) {
		t.Fatal("the scan does not find an entity written in plaintext; it proves nothing")
	}
	for _, v := range append([]string{"Rotated-Passw0rd-One"}, mapValues(secrets)...) {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("database file contains the plaintext %q", v)
		}
	}
	if bytes.Contains(raw, testKEK) {
		t.Error("database file contains the KEK")
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func FuzzUnseal(f *testing.F) {
	sl, err := newSealer(testKEK)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := sl.seal(purposeBlob, "n", []byte("plaintext"))
	f.Add(good, "n")
	f.Add(good, "m")
	f.Add([]byte{1}, "")
	f.Add(bytes.Repeat([]byte{1}, sealOverhead), "x")
	f.Fuzz(func(t *testing.T, sealed []byte, name string) {
		pt, err := sl.open(purposeBlob, name, sealed)
		if err != nil {
			if !errors.Is(err, ErrSealed) {
				t.Fatalf("error %v does not wrap ErrSealed", err)
			}
			return
		}
		// Only a value the sealer made opens, under its own name. Fuzz
		// workers are separate processes whose seed seals differ from this
		// one's, so compare what was sealed, not the bytes.
		if name != "n" || len(sealed) != len(good) || string(pt) != "plaintext" {
			t.Fatalf("opened %x under %q as %q", sealed, name, pt)
		}
	})
}
