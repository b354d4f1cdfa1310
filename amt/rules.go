package amt

// RuleError is a refusal: by a firmware rule, or by any other rule of
// amtrcs, since every refusal takes this one shape. It carries the four
// things a user needs to act, so that callers can show it as one line,
// send it as JSON, or branch on Rule with errors.As. It is an error as a
// value and as a pointer; the firmware rules of this package return
// pointers.
type RuleError struct {
	Rule string `json:"rule"` // which rule, for example "custom root hashes"
	Seen string `json:"seen"` // what was given
	Want string `json:"want"` // what the rule allows
	Fix  string `json:"fix"`  // what the user can do about it
}

// Error puts the refusal on one line; an empty Want or Fix is left out.
func (e RuleError) Error() string {
	s := e.Rule + ": " + e.Seen
	if e.Want != "" {
		s += "; want " + e.Want
	}
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	return s
}

// Names of the rules a RuleError can carry.
const (
	RuleHashAlgorithm  = "root hash algorithm"
	RuleHashSize       = "root hash size"
	RuleHashName       = "root hash name"
	RuleCustomHashes   = "custom root hashes"
	RuleHashEntries    = "root hash table size"
	RuleDuplicateHash  = "duplicate root hash"
	RuleSHA1Hash       = "SHA-1 root hash"
	RuleHashNotPresent = "root hash not in table"
	RuleAMTVersion     = "AMT version"
)
