package store

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
	"go.step.sm/crypto/kms"
	"go.step.sm/crypto/kms/apiv1"
	"go.step.sm/crypto/kms/uri"
)

// A KEK in a KMS is envelope encryption. The KMS (an HSM through PKCS#11)
// holds an RSA key pair whose private half never leaves it. The store's
// data key, 32 random bytes that seal every secret as a KEK file's key
// would, is kept in the store's meta bucket wrapped with the public half
// (RSA-OAEP), and the KMS unwraps it once, when the store opens. So the HSM
// is needed at start only, and every server sharing one database opens its
// one wrapped data key with the same HSM key pair.

const (
	metaKEKWrapped = "kek-wrapped" // wrapVersion, then the RSA-OAEP ciphertext of the data key
	metaKEKKMSKey  = "kek-kms-key" // key id (kmsKeyID) of the key pair that wrapped it
)

// wrapVersion 1 is RSA-OAEP with SHA-1 and no label: the one OAEP form that
// PKCS#11 tokens commonly implement (SoftHSM2 refuses SHA-256 and labels).
// For wrapping a random key OAEP rests on the hash as a random function,
// not on its collision resistance, so SHA-1 is sound here.
const wrapVersion byte = 1

// minKMSBits is the smallest RSA key that may wrap the data key.
const minKMSBits = 2048

// kmsKeyBits is the size of the key pair CreateKMSKEK makes.
const kmsKeyBits = 3072

// Rules a KMS KEK refusal names (amt.RuleError.Rule).
const (
	RuleKMSType     = "KEK KMS type"
	RuleKMSURI      = "KEK KMS URI"
	RuleKMSModule   = "KEK PKCS#11 module"
	RuleKMSPIN      = "KEK PKCS#11 PIN"
	RuleKMSToken    = "KEK PKCS#11 token"
	RuleKMSKey      = "KEK key pair"
	RuleKMSStoreKey = "KEK key pair of the store"
)

// kmsFix is the fix for a KEK the build or the URI cannot give.
const kmsFix = `write kek.kms = "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=amtrcs;object=amtrcs-kek?pin-source=/etc/amtrcs/pin" (your HSM's module, token and PIN file), or use kek.file or kek.env`

// kmsTypeName is what a KMS type looks like; anything else before the first
// colon is not shown.
var kmsTypeName = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)

// kmsRef is a parsed KMS key URI.
type kmsRef struct {
	raw     string // as configured; may hold a PIN, never shown
	ref     string // for people: module, token and key pair, never the PIN
	keyName string // the key pair alone, for the KMS calls whose errors quote it
	module  string
	object  string
	id      []byte
	pin     string // to scrub from the KMS's own error texts
}

// parseKMSURI checks a KMS key URI without opening the KMS: the type is one
// this build opens, the token and key pair are named, the module file is
// there, the PIN can be read without a prompt.
func parseKMSURI(raw string) (*kmsRef, error) {
	typ, _, _ := strings.Cut(raw, ":")
	if !strings.EqualFold(typ, "pkcs11") {
		seen := fmt.Sprintf("kek.kms has type %q", typ)
		if !kmsTypeName.MatchString(typ) {
			// Not a type name: it may be anything, a PIN included.
			seen = "kek.kms does not start with a TYPE: (value not shown, it may hold a PIN)"
		}
		return nil, amt.RuleError{Rule: RuleKMSType, Seen: seen, Want: "pkcs11, the KMS type this build opens a KEK in", Fix: kmsFix, Err: ErrKEK}
	}
	if !pkcs11Built {
		return nil, amt.RuleError{Rule: RuleKMSType, Seen: "kek.kms has type pkcs11, and this amtrcs was built without cgo (a cross build, or CGO_ENABLED=0), which PKCS#11 needs", Want: "a build with cgo", Fix: "build amtrcs on the target system with a C compiler and CGO_ENABLED=1, or use kek.file or kek.env", Err: ErrKEK}
	}
	u, err := uri.ParseWithScheme("pkcs11", raw)
	if err != nil {
		// The parser's error quotes the URI, which may hold a PIN.
		return nil, amt.RuleError{Rule: RuleKMSURI, Seen: "kek.kms is not a parsable pkcs11 URI (value not shown, it may hold a PIN)", Want: "pkcs11:ATTR=VALUE;...?pin-source=FILE", Fix: kmsFix, Err: ErrKEK}
	}
	r := &kmsRef{raw: raw, module: u.Get("module-path"), object: u.Get("object"), id: u.GetEncoded("id")}
	var parts, tokens []string
	if r.module != "" {
		parts = append(parts, "module-path="+r.module)
	}
	for _, k := range []string{"token", "serial", "slot-id"} {
		if v := u.Get(k); v != "" {
			tokens = append(tokens, k)
			parts = append(parts, k+"="+v)
		}
	}
	var key []string
	if len(r.id) > 0 {
		key = append(key, "id="+hex.EncodeToString(r.id))
	}
	if r.object != "" {
		key = append(key, "object="+r.object)
	}
	r.keyName = "pkcs11:" + strings.Join(key, ";")
	r.ref = "pkcs11:" + strings.Join(append(parts, key...), ";")
	if len(tokens) != 1 {
		return nil, amt.RuleError{Rule: RuleKMSToken, Seen: fmt.Sprintf("kek.kms %s names the token by %d of token, serial and slot-id", r.ref, len(tokens)), Want: "exactly one, such as token=amtrcs", Fix: "name the token by its label: ;token=LABEL", Err: ErrKEK}
	}
	if len(key) == 0 {
		return nil, amt.RuleError{Rule: RuleKMSKey, Seen: fmt.Sprintf("kek.kms %s names no key pair", r.ref), Want: "object=LABEL (and optionally id=HEX) of the RSA key pair that wraps the store's data key", Fix: "add ;object=amtrcs-kek, and create the pair once with: amtrcs kek init", Err: ErrKEK}
	}
	if strings.ContainsRune(r.module, os.PathSeparator) || strings.ContainsRune(r.module, '/') {
		if st, err := os.Stat(r.module); err != nil || st.IsDir() {
			seen := fmt.Sprintf("module-path %q does not exist", r.module)
			if err == nil {
				seen = fmt.Sprintf("module-path %q is a directory", r.module)
			} else if !errors.Is(err, os.ErrNotExist) {
				seen = fmt.Sprintf("module-path %q: %v", r.module, unwrapPathError(err))
			}
			return nil, amt.RuleError{Rule: RuleKMSModule, Seen: seen, Want: "the file of the token's PKCS#11 module", Fix: "install the module (SoftHSM2: apt-get install -y softhsm2, module /usr/lib/softhsm/libsofthsm2.so; an HSM: its vendor's client), or correct module-path", Err: ErrKEK}
		}
	}
	if u.Has("pin-prompt") {
		return nil, amt.RuleError{Rule: RuleKMSPIN, Seen: "kek.kms asks for pin-prompt", Want: "a PIN amtrcs can read unattended", Fix: "put the PIN in a file of mode 0600 readable by the amtrcs user and write ?pin-source=/etc/amtrcs/pin", Err: ErrKEK}
	}
	if src := u.Get("pin-source"); src != "" && u.Get("pin-value") == "" {
		// The KMS reads the whole file: a device such as /dev/zero would
		// never end.
		if st, err := os.Stat(strings.TrimPrefix(src, "file://")); err == nil && !st.Mode().IsRegular() {
			return nil, amt.RuleError{Rule: RuleKMSPIN, Seen: fmt.Sprintf("pin-source %q is a %s", src, describeMode(st.Mode())), Want: "a regular file holding the token's user PIN", Fix: "give the path of the PIN file (mode 0600)", Err: ErrKEK}
		}
		if _, err := u.Read("pin-source"); err != nil {
			return nil, amt.RuleError{Rule: RuleKMSPIN, Seen: fmt.Sprintf("pin-source %q cannot be read: %v", src, unwrapPathError(errors.Unwrap(err))), Want: "a file holding the token's user PIN", Fix: "create the file (mode 0600) readable by the amtrcs user, or correct pin-source", Err: ErrKEK}
		}
	}
	r.pin = u.Pin()
	return r, nil
}

// scrub removes the PIN from a KMS library's error text.
func (r *kmsRef) scrub(err error) string {
	s := err.Error()
	if r.pin != "" {
		s = strings.ReplaceAll(s, r.pin, "(PIN)")
	}
	return strings.ReplaceAll(s, r.raw, r.ref)
}

// openKMS logs in to the token the URI names.
func (r *kmsRef) openKMS(ctx context.Context) (apiv1.KeyManager, error) {
	km, err := kms.New(ctx, apiv1.Options{Type: apiv1.PKCS11, URI: r.raw})
	if err == nil {
		return km, nil
	}
	msg := r.scrub(err)
	switch {
	case strings.Contains(msg, "failed to open module"):
		return nil, amt.RuleError{Rule: RuleKMSModule, Seen: fmt.Sprintf("module %q of %s does not load as a PKCS#11 module", r.moduleName(), r.ref), Want: "the token's PKCS#11 module (a shared library)", Fix: "install the module or correct module-path", Err: fmt.Errorf("%w: %s", ErrKEK, msg)}
	case strings.Contains(msg, "could not find PKCS#11 token"):
		return nil, amt.RuleError{Rule: RuleKMSToken, Seen: fmt.Sprintf("module %q has no token as %s names", r.moduleName(), r.ref), Want: "an initialised token of that label, serial or slot", Fix: "check the token's label (softhsm2-util --show-slots, or your HSM's tool), or create it: softhsm2-util --init-token --free --label amtrcs", Err: fmt.Errorf("%w: %s", ErrKEK, msg)}
	case strings.Contains(msg, "CKR_PIN"):
		return nil, amt.RuleError{Rule: RuleKMSPIN, Seen: fmt.Sprintf("the token of %s refused the PIN (%s)", r.ref, pinReason(msg)), Want: "the token's user PIN", Fix: "put the user PIN in the pin-source file (or pin-value); a locked PIN must be reset by the token's security officer", Err: fmt.Errorf("%w: %s", ErrKEK, msg)}
	}
	return nil, amt.RuleError{Rule: RuleKMSToken, Seen: fmt.Sprintf("%s cannot be opened: %s", r.ref, msg), Want: "a reachable token and a PIN it accepts", Fix: "check that the HSM is up and reachable from this host, then start again", Err: fmt.Errorf("%w: %s", ErrKEK, msg)}
}

func (r *kmsRef) moduleName() string {
	if r.module == "" {
		return "p11-kit-proxy (the default)"
	}
	return r.module
}

func pinReason(msg string) string {
	for _, code := range []string{"CKR_PIN_INCORRECT", "CKR_PIN_LOCKED", "CKR_PIN_EXPIRED", "CKR_PIN_LEN_RANGE", "CKR_PIN_INVALID"} {
		if strings.Contains(msg, code) {
			return code
		}
	}
	return "a CKR_PIN error"
}

// kmsKEK is an open key pair in a KMS that wraps the store's data key.
type kmsKEK struct {
	ref   *kmsRef
	km    apiv1.KeyManager
	dec   crypto.Decrypter
	pub   *rsa.PublicKey
	keyID string
}

// openKMSKEK logs in to the token and finds the key pair.
func openKMSKEK(ctx context.Context, raw string) (*kmsKEK, error) {
	r, err := parseKMSURI(raw)
	if err != nil {
		return nil, err
	}
	km, err := r.openKMS(ctx)
	if err != nil {
		return nil, err
	}
	k, err := r.findKey(km)
	if err != nil {
		km.Close()
		return nil, err
	}
	return k, nil
}

func (r *kmsRef) findKey(km apiv1.KeyManager) (*kmsKEK, error) {
	dm, ok := km.(apiv1.Decrypter)
	if !ok {
		return nil, amt.RuleError{Rule: RuleKMSType, Seen: r.ref + " cannot decrypt", Want: "a KMS that decrypts with a key pair", Fix: kmsFix, Err: ErrKEK}
	}
	dec, err := dm.CreateDecrypter(&apiv1.CreateDecrypterRequest{DecryptionKey: r.keyName})
	if err != nil {
		msg := r.scrub(err)
		if strings.Contains(msg, "not found") {
			return nil, amt.RuleError{Rule: RuleKMSKey, Seen: fmt.Sprintf("the token of %s holds no key pair %s", r.ref, r.keyName), Want: "the RSA key pair that wraps the store's data key", Fix: "for a new store create it once with: amtrcs kek init; for an existing one, correct object= or id= to the pair it was created with", Err: fmt.Errorf("%w: %s", ErrKEK, msg)}
		}
		return nil, amt.RuleError{Rule: RuleKMSKey, Seen: fmt.Sprintf("key pair %s cannot decrypt: %s", r.ref, msg), Want: "an RSA key pair allowed to decrypt (CKA_DECRYPT)", Fix: "create a pair for amtrcs with: amtrcs kek init, under a new object= label", Err: fmt.Errorf("%w: %s", ErrKEK, msg)}
	}
	pub, ok := dec.Public().(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < minKMSBits {
		seen := fmt.Sprintf("key pair %s is a %T", r.ref, dec.Public())
		if ok {
			seen = fmt.Sprintf("key pair %s is RSA %d bits", r.ref, pub.N.BitLen())
		}
		return nil, amt.RuleError{Rule: RuleKMSKey, Seen: seen, Want: fmt.Sprintf("an RSA key pair of at least %d bits", minKMSBits), Fix: "create one with: amtrcs kek init, under a new object= label", Err: ErrKEK}
	}
	return &kmsKEK{ref: r, km: km, dec: dec, pub: pub, keyID: kmsKeyID(pub)}, nil
}

// kmsKeyID names a key pair by its public half, so a store can tell the pair
// that wrapped its data key from another without asking the HSM to decrypt.
func kmsKeyID(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "unknown"
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Close logs out of the token. The data key stays in the store's memory.
func (k *kmsKEK) Close() error { return k.km.Close() }

// newDataKey makes a data key for a new store and wraps it.
func (k *kmsKEK) newDataKey() (dek, wrapped []byte, err error) {
	dek = make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return nil, nil, err
	}
	ct, err := rsa.EncryptOAEP(crypto.SHA1.New(), rand.Reader, k.pub, dek, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: wrap the data key with %s: %v", ErrKEK, k.ref.ref, err)
	}
	return dek, append([]byte{wrapVersion}, ct...), nil
}

// openDataKey unwraps the data key of the store at path. keyID is the
// pair that wrapped it, as the store recorded.
func (k *kmsKEK) openDataKey(path string, wrapped []byte, keyID string) ([]byte, error) {
	if keyID != k.keyID {
		return nil, amt.RuleError{Rule: RuleKMSStoreKey, Seen: fmt.Sprintf("store %q has its data key wrapped by key pair %s, and kek.kms %s is key pair %s", path, keyID, k.ref.ref, k.keyID), Want: "the key pair the store was created with", Fix: "set kek.kms to that pair's token and object= (amtrcs kek init prints a pair's key id; so does this error), or move the store aside to start a new, empty one", Err: ErrKEKMismatch}
	}
	if len(wrapped) < 2 || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("%w: store %q has a wrapped data key of an unknown format: restore the file from a backup, or run the amtrcs that wrote it", ErrKEKMismatch, path)
	}
	dek, err := k.dec.Decrypt(rand.Reader, wrapped[1:], &rsa.OAEPOptions{Hash: crypto.SHA1})
	if err != nil || len(dek) != 32 {
		return nil, amt.RuleError{Rule: RuleKMSStoreKey, Seen: fmt.Sprintf("key pair %s does not unwrap the data key of store %q", k.ref.ref, path), Want: "the key pair the store was created with", Fix: "check that the token holds that pair (not another with the same label), or restore the store from a backup", Err: ErrKEKMismatch}
	}
	return dek, nil
}

// CheckKEK tells whether src can give a key-encryption key now, without a
// store: for a KMS it opens the module, logs in to the token and finds the
// key pair, as Open does first, and returns the pair's key id. A KEK file
// or variable is read by Open only, where the service runs, since it is
// often readable there alone. config check and Open agree because both
// come here (Open through openKMSKEK).
func CheckKEK(ctx context.Context, src KEKSource) (keyID string, err error) {
	if err := oneKEKSource(src); err != nil {
		return "", err
	}
	if src.KMS == "" {
		return "", nil
	}
	k, err := openKMSKEK(ctx, src.KMS)
	if err != nil {
		return "", err
	}
	return k.keyID, k.Close()
}

// CreateKMSKEK creates the RSA key pair of a KMS KEK in the token, where its
// private half stays (sensitive, not extractable). Without an id= in the URI
// the pair gets one derived from its label, so that every token given the
// same label names the pair alike. It refuses a label already in use. It
// returns the pair for people (module, token, id and label, never the PIN)
// and its key id, which a store records.
func CreateKMSKEK(ctx context.Context, raw string) (pair, keyID string, err error) {
	r, err := parseKMSURI(raw)
	if err != nil {
		return "", "", err
	}
	if r.object == "" {
		return "", "", amt.RuleError{Rule: RuleKMSKey, Seen: fmt.Sprintf("kek.kms %s has no object= label", r.ref), Want: "object=LABEL to create the key pair under", Fix: "add ;object=amtrcs-kek", Err: ErrKEK}
	}
	name := r.keyName
	if len(r.id) == 0 {
		sum := sha256.Sum256([]byte(r.object))
		name = "pkcs11:id=" + hex.EncodeToString(sum[:8]) + ";object=" + r.object
	}
	km, err := r.openKMS(ctx)
	if err != nil {
		return "", "", err
	}
	defer km.Close()
	if k, err := r.findKey(km); err == nil {
		return "", "", amt.RuleError{Rule: RuleKMSKey, Seen: fmt.Sprintf("the token of %s already holds key pair %s (key id %s)", r.ref, r.keyName, k.keyID), Want: "a label not in use", Fix: "use that pair as it is (amtrcs serve will), or choose another object= label", Err: ErrKEK}
	}
	resp, err := km.CreateKey(&apiv1.CreateKeyRequest{Name: name, SignatureAlgorithm: apiv1.SHA256WithRSA, Bits: kmsKeyBits})
	if err != nil {
		return "", "", amt.RuleError{Rule: RuleKMSKey, Seen: fmt.Sprintf("the token of %s did not create key pair %s: %s", r.ref, name, r.scrub(err)), Want: fmt.Sprintf("an RSA %d key pair created in the token", kmsKeyBits), Fix: "check that the token has room and that its user may create keys", Err: ErrKEK}
	}
	pub, ok := resp.PublicKey.(*rsa.PublicKey)
	if !ok {
		return "", "", fmt.Errorf("%w: key pair %s: the token returned a %T public key, want RSA", ErrKEK, name, resp.PublicKey)
	}
	return strings.Replace(r.ref, r.keyName[len("pkcs11:"):], name[len("pkcs11:"):], 1), kmsKeyID(pub), nil
}

// dataKey sets the sealer of a store from its meta values wrapped and keyID (nil when
// the store is new). With a KMS it unwraps the data key the store records,
// or, for a new store, makes one and returns it wrapped for init to write.
// Without a KMS it refuses a store whose data key a KMS key pair wraps,
// and leaves the sealer Open built from the KEK.
func (s *Store) dataKey(wrapper *kmsKEK, wrapped, keyID []byte, hasCheck bool) (newWrapped []byte, err error) {
	if wrapper == nil {
		if wrapped != nil {
			return nil, amt.RuleError{Rule: RuleKMSStoreKey, Seen: fmt.Sprintf("store %q has its data key wrapped by the KMS key pair %s, and the KEK given is the %s", s.be.where(), keyID, s.kek.Source), Want: "kek.kms naming that key pair", Fix: `set kek { kms = "pkcs11:...;token=...;object=...?pin-source=..." } to the token and pair the store was created with`, Err: ErrKEKMismatch}
		}
		return nil, nil
	}
	var dek []byte
	switch {
	case wrapped != nil:
		dek, err = wrapper.openDataKey(s.be.where(), wrapped, string(keyID))
	case hasCheck:
		return nil, amt.RuleError{Rule: RuleKMSStoreKey, Seen: fmt.Sprintf("store %q was created with a KEK file or environment variable, and kek.kms names %s", s.be.where(), wrapper.ref.ref), Want: "the KEK the store was created with", Fix: "set kek.file or kek.env back to that KEK (putting an existing store under a KMS key pair is not supported yet), or move the store aside to start a new, empty one under the KMS", Err: ErrKEKMismatch}
	default:
		dek, newWrapped, err = wrapper.newDataKey()
	}
	if err != nil {
		return nil, err
	}
	s.sealer, err = newSealer(dek)
	clear(dek)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKEK, err)
	}
	return newWrapped, nil
}
