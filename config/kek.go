package config

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// KEKSource says where the key-encryption key comes from. The KEK seals every
// secret at rest (provisioning keys, device passwords, CA keys).
type KEKSource string

const (
	KEKFile KEKSource = "file" // 32 random bytes in a file of mode 0600, created on first start
	KEKEnv  KEKSource = "env"  // an environment variable holding the key
	KEKKMS  KEKSource = "kms"  // a key in a KMS or HSM, by go.step.sm/crypto/kms URI
)

// KEK is the key-encryption key's source. Exactly one of File, Env and KMS is
// meaningful, the one Source names; File may be empty, meaning
// Config.KEKPath's default.
type KEK struct {
	Source KEKSource
	File   string // path of the key file
	Env    string // name of the variable holding the key
	KMS    string // KMS key URI, such as "pkcs11:token=amtrcs;object=amtrcs-kek?pin-source=/etc/amtrcs/pin"
	// Range is where the source is set in the file (zero for the default),
	// so that a check made when the key is fetched, which needs the store or
	// the HSM and so lives outside this package, can point at the line.
	Range hcl.Range
}

//	kek {
//	  file = "/etc/amtrcs/kek"   # or
//	  env  = "AMTRCS_KEK"        # or
//	  kms  = "pkcs11:module-path=...;token=...;object=...?pin-source=..."
//	}
type kekRaw struct {
	File      *string   `hcl:"file,optional"`
	FileRange hcl.Range `hcl:"file,attr_value_range"`
	Env       *string   `hcl:"env,optional"`
	EnvRange  hcl.Range `hcl:"env,attr_value_range"`
	KMS       *string   `hcl:"kms,optional"`
	KMSRange  hcl.Range `hcl:"kms,attr_value_range"`
	DefRange  hcl.Range `hcl:",def_range"`
}

func (b *builder) kek(raw *kekRaw, k *KEK) {
	if raw == nil {
		return
	}
	var set []string
	if raw.File != nil {
		set = append(set, "file")
		k.Source, k.File, k.Range = KEKFile, b.path(raw.File, raw.FileRange, "kek.file"), raw.FileRange
	}
	if raw.Env != nil {
		set = append(set, "env")
		k.Source, k.Env, k.Range = KEKEnv, b.envName(raw.Env, raw.EnvRange, "kek.env"), raw.EnvRange
	}
	if raw.KMS != nil {
		set = append(set, "kms")
		k.Source, k.KMS, k.Range = KEKKMS, *raw.KMS, raw.KMSRange
		if p := kmsProblem(*raw.KMS); p != "" {
			// The URI may carry a PIN (pkcs11:...;pin-value=...): never echo it.
			b.errorf(raw.KMSRange, "Invalid KMS URI", "kek.kms (value not shown, it may hold a PIN): %s; want TYPE:OPTIONS with TYPE one of %s; fix: write for example \"pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=amtrcs;object=amtrcs-kek?pin-source=/etc/amtrcs/pin\"", p, strings.Join(kmsSchemes, ", "))
		}
	}
	switch len(set) {
	case 0:
		b.errorf(raw.DefRange, "KEK without a source", `the kek block sets none of file, env, kms: want exactly one; fix: set file = "/path/to/kek", env = "AMTRCS_KEK" or kms = "TYPE:...", or remove the block to use a file in the data directory`)
	case 1:
	default:
		b.errorf(raw.DefRange, "KEK with several sources", "the kek block sets %v: want exactly one of file, env, kms, since the key that seals the store must be unambiguous; fix: keep one and remove the others", set)
	}
}
