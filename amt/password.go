package amt

import (
	"crypto/md5"
	"encoding/hex"
)

// AdminUser is the digest user name the firmware starts with and returns to
// after a full unprovision.
const AdminUser = "admin"

// NetworkAdminPassword is AdminSetup's NetworkAdminPassword: the lowercase
// hex MD5 of "admin:<realm>:<password>", the HTTP digest A1 of the admin
// user, so the password itself never crosses the wire (reference §5).
func NetworkAdminPassword(realm, password string) string {
	return hex.EncodeToString(DigestPassword(AdminUser, realm, password))
}

// DigestPassword is the raw 16-byte MD5 of "<user>:<realm>:<password>" that
// SetAdminAclEntryEx takes as DigestPassword; callers base64 it (the
// firmware answers 36 to the hex form some tools send).
func DigestPassword(user, realm, password string) []byte {
	s := md5.Sum([]byte(user + ":" + realm + ":" + password))
	return s[:]
}
