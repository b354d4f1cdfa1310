package csr

import (
	"fmt"

	"github.com/amtrcs/amtrcs/amt"
	"github.com/amtrcs/amtrcs/store"
)

// RuleCSRPending names the refusal to delete a CSR whose certificate has
// arrived: its key is then the provisioning certificate's key.
const RuleCSRPending = "only a pending CSR can be deleted"

// DeleteCSR removes a pending CSR and its sealed key, with an audit event,
// in one transaction. It refuses a CSR that a certificate has matched: the
// CSR and its certificate share the key (keySecretName of the same id), so
// deleting it would leave the certificate without its key.
func (w *Workshop) DeleteCSR(id string) (*CSRRecord, error) {
	var rec CSRRecord
	err := w.st.Update(func(tx *store.Tx) error {
		if err := tx.Get(store.CSRs, id, &rec); err != nil {
			return err
		}
		issued := rec.IssuedAs
		if issued == "" {
			if ok, err := tx.Exists(store.ProvCerts, id); err != nil {
				return err
			} else if ok {
				issued = id
			}
		}
		if rec.Status != CSRPending || issued != "" {
			if issued == "" {
				issued = "a certificate"
			}
			return amt.RuleError{Rule: RuleCSRPending,
				Seen: fmt.Sprintf("CSR %s is %s: %s was imported for it and uses its key", id, rec.Status, issued),
				Want: "a CSR still waiting for the vendor's certificate",
				Fix:  fmt.Sprintf("nothing to delete: the key belongs to provisioning certificate %s now; to stop using it, import its successor (amtrcs cert renew %s)", issued, issued)}
		}
		if err := tx.Delete(store.CSRs, id); err != nil {
			return err
		}
		// A CSR made by an older amtrcs may have lost its key already;
		// the record goes either way.
		if tx.HasSecret(keySecretName(id)) {
			if err := tx.DeleteSecret(keySecretName(id)); err != nil {
				return err
			}
		}
		return tx.Audit(store.Event{Actor: w.actor, Action: "csr.delete", Subject: id, Outcome: store.OutcomeSuccess,
			Detail: map[string]string{"common_name": rec.Subject.CommonName, "deleted_secret_name": keySecretName(id)}})
	})
	if err != nil {
		if _, ok := amt.AsRefusal(err); ok {
			w.auditFailure("csr.delete", id, err)
			return nil, err
		}
		return nil, fmt.Errorf("delete CSR %s: %w", id, err)
	}
	return &rec, nil
}
