package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/internal/softhsm"
	bolt "go.etcd.io/bbolt"
	"go.step.sm/crypto/kms/uri"
)

// A store under a KMS KEK: the data key is made and wrapped at creation,
// unwrapped by the HSM at every open, and secrets sealed under it survive a
// reopen. Not parallel: SoftHSM2 reads its token directory once per load.
func TestKMSKEKSealsAndReopens(t *testing.T) {
	module := softhsm.Token(t)
	ctx := context.Background()
	uri := softhsm.URI(module, "amtrcs-kek")
	pair, id, err := CreateKMSKEK(ctx, uri)
	if err != nil {
		t.Fatalf("CreateKMSKEK: %v", err)
	}
	if want := "pkcs11:module-path=" + module + ";token=amtrcs;id=" + labelID("amtrcs-kek") + ";object=amtrcs-kek"; pair != want {
		t.Errorf("pair %q, want %q", pair, want)
	}
	if !strings.HasPrefix(id, "sha256:") || len(id) != len("sha256:")+64 {
		t.Fatalf("key id %q, want sha256:<64 hex>", id)
	}
	if got, err := CheckKEK(ctx, KEKSource{KMS: uri}); err != nil || got != id {
		t.Fatalf("CheckKEK = %q, %v, want the key id %q", got, err, id)
	}

	path := filepath.Join(t.TempDir(), "amtrcs.db")
	st, err := Open(path, Options{KEK: KEKSource{KMS: uri}, NoSync: true})
	if err != nil {
		t.Fatalf("Open new store: %v", err)
	}
	if src := st.KEKInfo().Source; !strings.Contains(src, "object=amtrcs-kek") || strings.Contains(src, softhsm.PIN) {
		t.Errorf("KEK source %q, want the key pair named and no PIN", src)
	}
	if err := st.PutSecret("device/a/admin", []byte("P@ssw0rd-a")); err != nil {
		t.Fatal(err)
	}
	blob, err := st.Seal("ca-key", []byte("ca key bytes"))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), DefaultKEKFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a KEK file was created beside a KMS store: %v", err)
	}
	wrapped, keyID := metaValue(t, path, metaKEKWrapped), metaValue(t, path, metaKEKKMSKey)
	if len(wrapped) != 1+3072/8 || wrapped[0] != wrapVersion || string(keyID) != id {
		t.Fatalf("meta holds wrapped data key of %d bytes and key id %q, want %d bytes and %q", len(wrapped), keyID, 1+3072/8, id)
	}

	// A pin-source file gives the PIN as well as pin-value.
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(softhsm.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bySource := strings.Replace(uri, "pin-value="+softhsm.PIN, "pin-source="+pinFile, 1)
	st, err = Open(path, Options{KEK: KEKSource{KMS: bySource}, NoSync: true})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer st.Close()
	if pt, err := st.Secret("device/a/admin"); err != nil || string(pt) != "P@ssw0rd-a" {
		t.Errorf("secret after reopen = %q, %v", pt, err)
	}
	if pt, err := st.Unseal("ca-key", blob); err != nil || string(pt) != "ca key bytes" {
		t.Errorf("blob after reopen = %q, %v", pt, err)
	}
	if n, err := st.CheckSecrets(); err != nil || n != 1 {
		t.Errorf("CheckSecrets = %d, %v", n, err)
	}
}

// Every way a KMS KEK can be wrong is refused before the store is touched,
// with a refusal that names the rule and never the PIN.
func TestKMSKEKRefusals(t *testing.T) {
	module := softhsm.Token(t)
	ctx := context.Background()
	good := softhsm.URI(module, "amtrcs-kek")
	_, goodID, err := CreateKMSKEK(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	_, otherID, err := CreateKMSKEK(ctx, softhsm.URI(module, "other-kek"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kmsStore := filepath.Join(dir, "kms", "amtrcs.db")
	st, err := Open(kmsStore, Options{KEK: KEKSource{KMS: good}, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSecret("s", []byte("v")); err != nil {
		t.Fatal(err)
	}
	st.Close()
	fileStore := filepath.Join(dir, "file", "amtrcs.db")
	st, err = Open(fileStore, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	unreadable := filepath.Join(dir, "no-such-pin")

	tests := map[string]struct {
		path     string
		src      KEKSource
		rule     string
		sentinel error
		contains []string
	}{
		"another key pair of the token": {
			path: kmsStore, src: KEKSource{KMS: softhsm.URI(module, "other-kek")},
			rule: RuleKMSStoreKey, sentinel: ErrKEKMismatch, contains: []string{goodID, otherID, "object=other-kek"},
		},
		"a key pair the token does not hold": {
			path: kmsStore, src: KEKSource{KMS: softhsm.URI(module, "missing-kek")},
			rule: RuleKMSKey, sentinel: ErrKEK, contains: []string{"object=missing-kek", "amtrcs kek init"},
		},
		"missing module": {
			path: kmsStore, src: KEKSource{KMS: softhsm.URI("/nonexistent/libpkcs11.so", "amtrcs-kek")},
			rule: RuleKMSModule, sentinel: ErrKEK, contains: []string{`"/nonexistent/libpkcs11.so" does not exist`, "apt-get install -y softhsm2"},
		},
		"module that is not a PKCS#11 library": {
			path: kmsStore, src: KEKSource{KMS: softhsm.URI(unreadableModule(t), "amtrcs-kek")},
			rule: RuleKMSModule, sentinel: ErrKEK, contains: []string{"does not load as a PKCS#11 module"},
		},
		"wrong token label": {
			path: kmsStore, src: KEKSource{KMS: strings.Replace(good, "token=amtrcs", "token=nope", 1)},
			rule: RuleKMSToken, sentinel: ErrKEK, contains: []string{"token=nope", "--init-token"},
		},
		"wrong PIN": {
			path: kmsStore, src: KEKSource{KMS: strings.Replace(good, "pin-value="+softhsm.PIN, "pin-value=wrong-user-pin", 1)},
			rule: RuleKMSPIN, sentinel: ErrKEK, contains: []string{"CKR_PIN_INCORRECT"},
		},
		"unreadable pin-source": {
			path: kmsStore, src: KEKSource{KMS: strings.Replace(good, "pin-value="+softhsm.PIN, "pin-source="+unreadable, 1)},
			rule: RuleKMSPIN, sentinel: ErrKEK, contains: []string{unreadable},
		},
		"pin-source that is a device": {
			path: kmsStore, src: KEKSource{KMS: strings.Replace(good, "pin-value="+softhsm.PIN, "pin-source=/dev/zero", 1)},
			rule: RuleKMSPIN, sentinel: ErrKEK, contains: []string{`"/dev/zero" is a device`},
		},
		"a KMS type this build does not open": {
			path: kmsStore, src: KEKSource{KMS: "awskms:key-id=1234"},
			rule: RuleKMSType, sentinel: ErrKEK, contains: []string{`"awskms"`, "pkcs11"},
		},
		"no key pair named": {
			path: kmsStore, src: KEKSource{KMS: "pkcs11:module-path=" + module + ";token=amtrcs?pin-value=" + softhsm.PIN},
			rule: RuleKMSKey, sentinel: ErrKEK, contains: []string{"names no key pair", "object="},
		},
		"store made with a KEK file, opened with the KMS": {
			path: fileStore, src: KEKSource{KMS: good},
			rule: RuleKMSStoreKey, sentinel: ErrKEKMismatch, contains: []string{"KEK file or environment variable"},
		},
		"store made with the KMS, opened with a KEK file": {
			path: kmsStore, src: KEKSource{File: filepath.Join(dir, "file", DefaultKEKFile)},
			rule: RuleKMSStoreKey, sentinel: ErrKEKMismatch, contains: []string{goodID, "kek.kms"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Open(tc.path, Options{KEK: tc.src, NoSync: true, LockTimeout: 1})
			checkRefusal(t, err, tc.rule, tc.sentinel, tc.contains)
			if after, _ := os.ReadFile(tc.path); !bytes.Equal(before, after) {
				t.Error("a refused Open changed the store file")
			}
			if tc.path == kmsStore && tc.src.KMS != "" {
				// config check's view agrees with Open's, except on what
				// only the store can tell (which pair wrapped its key).
				_, err := CheckKEK(ctx, tc.src)
				if tc.rule == RuleKMSStoreKey {
					if err != nil {
						t.Errorf("CheckKEK = %v, want nil: the pair exists, only the store tells it is not its own", err)
					}
					return
				}
				checkRefusal(t, err, tc.rule, tc.sentinel, tc.contains)
			}
		})
	}

	if _, _, err := CreateKMSKEK(ctx, good); err == nil || !strings.Contains(err.Error(), goodID) {
		t.Errorf("CreateKMSKEK on a label in use = %v, want a refusal naming the pair's key id", err)
	}
}

func labelID(label string) string {
	sum := sha256.Sum256([]byte(label))
	return hex.EncodeToString(sum[:8])
}

func checkRefusal(t *testing.T, err error, rule string, sentinel error, contains []string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted, want a refusal")
	}
	r, ok := amt.AsRefusal(err)
	if !ok || r.Rule != rule || r.Seen == "" || r.Want == "" || r.Fix == "" {
		t.Fatalf("error %v: refusal %+v, want rule %q with seen, want and fix", err, r, rule)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %v does not wrap %v", err, sentinel)
	}
	msg := err.Error()
	for _, c := range contains {
		if !strings.Contains(msg, c) {
			t.Errorf("error %q lacks %q", msg, c)
		}
	}
	if strings.Contains(msg, "user-pin") {
		t.Errorf("error %q shows the PIN", msg)
	}
}

// unreadableModule is a file that exists but is no shared library.
func unreadableModule(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "libnot-pkcs11.so")
	if err := os.WriteFile(p, []byte("not an ELF file"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func metaValue(t *testing.T, path, key string) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v []byte
	db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket([]byte(Meta)).Get([]byte(key)))
		return nil
	})
	return v
}

// A build without cgo cannot load a PKCS#11 module: it refuses kek.kms up
// front, saying how to get a build that can, instead of failing in dlopen.
func TestKMSKEKBuildWithoutPKCS11(t *testing.T) {
	built := pkcs11Built
	pkcs11Built = false
	t.Cleanup(func() { pkcs11Built = built })
	uri := "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=amtrcs;object=k?pin-value=hsm-user-pin"
	_, err := CheckKEK(context.Background(), KEKSource{KMS: uri})
	checkRefusal(t, err, RuleKMSType, ErrKEK, []string{"built without cgo", "CGO_ENABLED=1"})
	_, err = Open(filepath.Join(t.TempDir(), "amtrcs.db"), Options{KEK: KEKSource{KMS: uri}, NoSync: true})
	checkRefusal(t, err, RuleKMSType, ErrKEK, []string{"built without cgo"})
}

// kek.kms comes from the configuration file: parsing it never panics, every
// refusal is a full one, and the PIN is never in it.
func FuzzParseKMSURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=amtrcs;object=amtrcs-kek?pin-value=Zq9Secret",
		"pkcs11:token=amtrcs;id=%0a%10?pin-value=Zq9Secret",
		"pkcs11:serial=1a2b;slot-id=3;object=k?pin-value=Zq9Secret&pin-prompt",
		"pkcs11:token=a;object=b;pin-value=Zq9Secret",
		"pkcs11:%zz?pin-value=Zq9Secret",
		"awskms:key-id=Zq9Secret",
		"pkcs11:",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if strings.Contains(raw, "pin-source") {
			t.Skip("would read a file the input names")
		}
		_, err := parseKMSURI(raw)
		if err == nil {
			return
		}
		r, ok := amt.AsRefusal(err)
		if !ok || r.Rule == "" || r.Seen == "" || r.Want == "" || r.Fix == "" {
			t.Fatalf("%q: error %v is not a full refusal", raw, err)
		}
		// Text that is no URI (no colon, not a type name) is not shown.
		if !strings.Contains(raw, ":") && !kmsTypeName.MatchString(raw) && len(raw) >= 4 && strings.Contains(err.Error(), raw) {
			t.Fatalf("%q: refusal shows a value that is no URI: %v", raw, err)
		}
		// A PIN written once in the URI, as pin-value, is never shown
		// (the same characters in another attribute are that attribute's).
		u, perr := uri.Parse(raw)
		if perr != nil {
			return
		}
		if pin := u.Get("pin-value"); len(pin) >= 4 && strings.Count(raw, pin) == 1 && strings.Contains(err.Error(), pin) {
			t.Fatalf("%q: refusal shows the PIN: %v", raw, err)
		}
	})
}

// TestKMSKEKOnEveryBackend: the data key wrapped by the HSM's key pair is
// kept in the store's meta on each backend, so a PostgreSQL store shared by
// several servers opens with the same pair on each of them; another pair
// is refused and changes nothing.
func TestKMSKEKOnEveryBackend(t *testing.T) {
	module := softhsm.Token(t)
	ctx := context.Background()
	uri := softhsm.URI(module, "amtrcs-kek")
	if _, _, err := CreateKMSKEK(ctx, uri); err != nil {
		t.Fatalf("CreateKMSKEK: %v", err)
	}
	other := softhsm.URI(module, "other-kek")
	if _, _, err := CreateKMSKEK(ctx, other); err != nil {
		t.Fatalf("CreateKMSKEK: %v", err)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			place := b.place(t)
			st, err := b.open(t, place, Options{KEK: KEKSource{KMS: uri}, NoSync: true, Logger: quietLogger()})
			if err != nil {
				t.Fatalf("open a new store under the KMS: %v", err)
			}
			if err := st.PutSecret("device/a/admin", []byte("P@ssw0rd-a")); err != nil {
				t.Fatal(err)
			}
			st.Close()
			if _, err := b.open(t, place, Options{KEK: KEKSource{KMS: other}, NoSync: true, Logger: quietLogger()}); !errors.Is(err, ErrKEKMismatch) {
				t.Fatalf("open with another key pair: %v, want ErrKEKMismatch", err)
			}
			if _, err := b.open(t, place, Options{KEK: KEKSource{Key: testKEK}, NoSync: true, Logger: quietLogger()}); !errors.Is(err, ErrKEKMismatch) {
				t.Fatalf("open with a plain KEK: %v, want ErrKEKMismatch", err)
			}
			st, err = b.open(t, place, Options{KEK: KEKSource{KMS: uri}, NoSync: true, Logger: quietLogger()})
			if err != nil {
				t.Fatalf("reopen under the KMS: %v", err)
			}
			defer st.Close()
			if pt, err := st.Secret("device/a/admin"); err != nil || string(pt) != "P@ssw0rd-a" {
				t.Fatalf("secret after reopen = %q, %v", pt, err)
			}
		})
	}
}
