package provisioning

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"unicode"
)

// Bounds of AMT admin and MEBx passwords.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 32
	// DefaultPasswordLength is the length of generated passwords.
	DefaultPasswordLength = 16
)

// RulePasswordStrength names the firmware's password rule in refusals.
const RulePasswordStrength = "AMT password strength"

// passwordSymbols are the non-alphanumeric characters generated passwords
// use. ':' ',' '"' and the backslash are left out because they break the
// digest's user:realm:password form or its quoting, and the space because
// MEBx input trims it.
const passwordSymbols = "!#$%&()*+-./;<=>?@[]^_{|}~"

const passwordAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789" + passwordSymbols

// CheckPassword applies the firmware's strength rule: 8 to 32 printable
// ASCII characters with at least one upper-case letter, one lower-case
// letter, one digit and one other character, and none of ':' ',' '"'. The
// error describes the password's shape, never its characters.
func CheckPassword(pw string) error {
	var upper, lower, digit, symbol bool
	var bad []string
	for _, r := range pw {
		switch {
		case r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ':
			bad = appendOnce(bad, "a character outside printable ASCII")
		case r == ':' || r == ',' || r == '"':
			bad = appendOnce(bad, fmt.Sprintf("%q", r))
		case 'A' <= r && r <= 'Z':
			upper = true
		case 'a' <= r && r <= 'z':
			lower = true
		case '0' <= r && r <= '9':
			digit = true
		default:
			symbol = true
		}
	}
	var missing []string
	for _, m := range []struct {
		ok   bool
		name string
	}{{upper, "an upper-case letter"}, {lower, "a lower-case letter"}, {digit, "a digit"}, {symbol, "a symbol"}} {
		if !m.ok {
			missing = append(missing, m.name)
		}
	}
	n := len(pw)
	if n >= MinPasswordLength && n <= MaxPasswordLength && len(missing) == 0 && len(bad) == 0 {
		return nil
	}
	var seen []string
	seen = append(seen, fmt.Sprintf("a %d-character password", n))
	if len(missing) > 0 {
		seen = append(seen, "without "+strings.Join(missing, ", "))
	}
	if len(bad) > 0 {
		seen = append(seen, "with "+strings.Join(bad, ", "))
	}
	return Reason{
		Rule: RulePasswordStrength,
		Seen: strings.Join(seen, " "),
		Want: fmt.Sprintf("%d to %d printable ASCII characters with upper and lower case, a digit and a symbol, and no ':' ',' '\"'", MinPasswordLength, MaxPasswordLength),
		Fix:  "choose a stronger static password, or use random passwords",
	}
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// GeneratePassword returns a random password of n characters (16 when n is
// 0) that passes CheckPassword.
func GeneratePassword(n int) (string, error) {
	if n == 0 {
		n = DefaultPasswordLength
	}
	if n < MinPasswordLength || n > MaxPasswordLength {
		return "", fmt.Errorf("password length %d: want %d to %d", n, MinPasswordLength, MaxPasswordLength)
	}
	max := big.NewInt(int64(len(passwordAlphabet)))
	b := make([]byte, n)
	// Rejection keeps the characters uniform; a 16-character draw lacks a
	// class rarely, so the loop ends after a few rounds.
	for range 1000 {
		for i := range b {
			k, err := rand.Int(rand.Reader, max)
			if err != nil {
				return "", fmt.Errorf("generate password: %w", err)
			}
			b[i] = passwordAlphabet[k.Int64()]
		}
		if CheckPassword(string(b)) == nil {
			return string(b), nil
		}
	}
	return "", fmt.Errorf("generate password: no draw met the strength rule")
}
