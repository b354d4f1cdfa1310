package main

import (
	"errors"
	"fmt"

	"github.com/amtrcs/amtrcs/config"
	"github.com/amtrcs/amtrcs/store"
	"github.com/spf13/cobra"
)

func init() { register(newKEKCmd) }

func newKEKCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kek",
		Short: "Work with the key-encryption key in an HSM",
	}
	cmd.AddCommand(newKEKInitCmd(a))
	return cmd
}

// kekInitReport is the --json form of kek init. It names the pair, never
// the PIN.
type kekInitReport struct {
	Pair  string `json:"pair"`
	KeyID string `json:"key_id"`
}

func newKEKInitCmd(a *app) *cobra.Command {
	var uri string
	cmd := &cobra.Command{
		Use:   "init [--kms URI]",
		Short: "Create the RSA key pair of kek.kms in the HSM, once",
		Long: "init creates, in the PKCS#11 token that kek.kms names (or --kms URI), the RSA 3072 key pair\n" +
			"that wraps the store's data key. Its private key is made in the token, sensitive and not\n" +
			"extractable, and never leaves it. Run it once, before the first amtrcs serve; every server\n" +
			"sharing the database names the same pair. A label already in use is refused.\n" +
			"Example: amtrcs kek init --kms 'pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=amtrcs;object=amtrcs-kek?pin-source=/etc/amtrcs/pin'",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if uri == "" {
				cfg, err := a.loadConfig()
				if err != nil {
					return err
				}
				if cfg.KEK.Source != config.KEKKMS {
					return usageError(errors.New("kek init: no KMS key URI: want --kms URI or a --config whose kek block sets kms; fix: amtrcs kek init --kms 'pkcs11:module-path=...;token=...;object=amtrcs-kek?pin-source=/etc/amtrcs/pin'"))
				}
				uri = cfg.KEK.KMS
			}
			pair, keyID, err := store.CreateKMSKEK(cmd.Context(), uri)
			if err != nil {
				return usageError(err)
			}
			if a.json {
				return a.printJSON(kekInitReport{Pair: pair, KeyID: keyID})
			}
			fmt.Fprintf(a.stdout, "created RSA key pair %s\n  key id %s; its private key stays in the token\n  a new store under this kek.kms records this key id; config check shows it\n", pair, keyID)
			return nil
		},
	}
	// The flag holds the URI so that a PIN can stay in a pin-source file;
	// a pin-value here would land in the shell's history.
	cmd.Flags().StringVar(&uri, "kms", "", "KMS key URI of the pair to create (default: kek.kms of --config)")
	return cmd
}
