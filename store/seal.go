package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Sealed values are: version byte, 12-byte random nonce, AES-256-GCM
// ciphertext with its 16-byte tag. The additional data binds the value to its
// purpose and name, so a sealed password copied under another device's name,
// or a sealed blob copied into the secrets bucket, fails to open.
const (
	sealVersion  byte = 1
	sealOverhead      = 1 + 12 + 16
	sealADPrefix      = "amtrcs-seal-v1"
)

// Purposes, kept apart in the additional data.
const (
	purposeSecret   = "secret"
	purposeBlob     = "blob"
	purposeKEKCheck = "kek-check"
)

// ErrSealed is wrapped by every failure to open a sealed value: wrong KEK,
// value moved to another name, or tampered bytes. GCM cannot tell them apart.
var ErrSealed = errors.New("sealed value does not open under this KEK and name")

type sealer struct {
	aead cipher.AEAD
}

func newSealer(kek []byte) (*sealer, error) {
	if len(kek) != 32 {
		return nil, fmt.Errorf("KEK is %d bytes, want 32 (AES-256)", len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func additionalData(purpose, name string) []byte {
	ad := make([]byte, 0, len(sealADPrefix)+len(purpose)+len(name)+2)
	ad = append(ad, sealADPrefix...)
	ad = append(ad, 0)
	ad = append(ad, purpose...)
	ad = append(ad, 0)
	return append(ad, name...)
}

func (s *sealer) seal(purpose, name string, plaintext []byte) ([]byte, error) {
	out := make([]byte, 1+s.aead.NonceSize(), sealOverhead+len(plaintext))
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal %s %q: random nonce: %w", purpose, name, err)
	}
	nonce := out[1:]
	return s.aead.Seal(out, nonce, plaintext, additionalData(purpose, name)), nil
}

func (s *sealer) open(purpose, name string, sealed []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("%s %q: sealed value is %d bytes, shorter than the %d-byte minimum: %w", purpose, name, len(sealed), sealOverhead, ErrSealed)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%s %q: sealed value has format version %d, want %d: %w", purpose, name, sealed[0], sealVersion, ErrSealed)
	}
	nonce := sealed[1 : 1+s.aead.NonceSize()]
	pt, err := s.aead.Open(nil, nonce, sealed[1+s.aead.NonceSize():], additionalData(purpose, name))
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w (wrong KEK, value stored under another name, or damaged)", purpose, name, ErrSealed)
	}
	return pt, nil
}

// Seal seals a blob that the caller stores elsewhere (for example a CA key
// kept by another database). The name is bound to the value: Unseal must be
// given the same name. Blobs and PutSecret values are kept apart, so a sealed
// blob cannot be planted in the secrets bucket.
func (s *Store) Seal(name string, plaintext []byte) ([]byte, error) {
	return s.sealer.seal(purposeBlob, name, plaintext)
}

// Unseal opens a blob sealed with Seal under the same name and KEK. Failures
// wrap ErrSealed.
func (s *Store) Unseal(name string, sealed []byte) ([]byte, error) {
	return s.sealer.open(purposeBlob, name, sealed)
}
