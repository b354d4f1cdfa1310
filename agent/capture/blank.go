package capture

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/amtrcs/amtrcs/amt"
)

// accountFields is the two 33-byte fields of GetLocalSystemAccount's reply
// (user name, password), after the header and the status.
const (
	accountOffset = amt.HostHeaderLen + 4
	accountField  = 33
)

// BlankHostReply returns reply with the secrets of a GetLocalSystemAccount
// reply zeroed (every byte after the status: the two fields and whatever
// firmware pads them with), and the user name and password it held. Other
// replies come back as they are, with empty strings.
func BlankHostReply(reply []byte) (out []byte, user, password string) {
	if len(reply) <= accountOffset || amt.HostCommand(le32(reply[4:])) != amt.CmdGetLocalSystemAccount.Response() {
		return reply, "", ""
	}
	field := func(i int) string {
		start := accountOffset + i*accountField
		if start >= len(reply) {
			return ""
		}
		b := reply[start:min(len(reply), start+accountField)]
		if n := bytes.IndexByte(b, 0); n >= 0 {
			b = b[:n]
		}
		return string(b)
	}
	user, password = field(0), field(1)
	out = append([]byte(nil), reply...)
	clear(out[accountOffset:])
	return out, user, password
}

// secretElement says whether an XML element (local name) holds a secret:
// passwords, nonces, signatures, keys. PasswordModel is a setting.
func secretElement(local string) bool {
	if local == "PasswordModel" {
		return false
	}
	for _, s := range []string{"Password", "Passphrase", "Nonce", "Signature", "Secret", "PSK", "PrivateKey", "KeyBlob"} {
		if strings.Contains(local, s) {
			return true
		}
	}
	return false
}

var startTag = regexp.MustCompile(`<((?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*))(?:\s[^<>]*)?>`)

// BlankXML empties the contents of every secret element (see
// secretElement), keeping the element so the message keeps its shape, and
// returns the names it blanked.
func BlankXML(body []byte) ([]byte, []string) {
	var out bytes.Buffer
	var names []string
	rest := body
	for {
		m := startTag.FindSubmatchIndex(rest)
		if m == nil {
			out.Write(rest)
			break
		}
		tagEnd := m[1]
		qname, local := string(rest[m[2]:m[3]]), string(rest[m[4]:m[5]])
		selfClosing := rest[tagEnd-2] == '/'
		out.Write(rest[:tagEnd])
		rest = rest[tagEnd:]
		if selfClosing || !secretElement(local) {
			continue
		}
		end := bytes.Index(rest, []byte("</"+qname+">"))
		if end < 0 {
			// An element that never ends: blank to the end of the body
			// rather than keep what may be a secret.
			names = append(names, local)
			rest = nil
			break
		}
		if end > 0 {
			names = append(names, local)
		}
		rest = rest[end:]
	}
	return out.Bytes(), names
}

var authParam = regexp.MustCompile(`([A-Za-z-]+)=("[^"]*"|[^,\s]*)`)

// blankAuth blanks the secret parameters of a digest Authorization or
// WWW-Authenticate value (nonce, cnonce, response, opaque); any other scheme
// is blanked whole.
func blankAuth(v string) string {
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "digest ") {
		return Blank
	}
	return authParam.ReplaceAllStringFunc(v, func(p string) string {
		k, _, _ := strings.Cut(p, "=")
		switch strings.ToLower(k) {
		case "nonce", "cnonce", "response", "opaque":
			return k + `="` + Blank + `"`
		}
		return p
	})
}

// blankKnown replaces every known secret value in s.
func blankKnown(s string, secrets []string) (string, bool) {
	hit := false
	for _, v := range secrets {
		if strings.Contains(s, v) {
			s, hit = strings.ReplaceAll(s, v, Blank), true
		}
	}
	return s, hit
}

// headerText writes headers sorted, with the secret ones blanked and
// Content-Length set to the body as recorded.
func headerText(b *strings.Builder, h http.Header, bodyLen int) (blanked []string) {
	keys := make([]string, 0, len(h))
	for k := range h {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Transfer-Encoding":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			switch http.CanonicalHeaderKey(k) {
			case "Authorization", "Www-Authenticate", "Proxy-Authorization", "Cookie", "Set-Cookie":
				v = blankAuth(v)
				blanked = append(blanked, k)
			}
			fmt.Fprintf(b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("Content-Length: " + strconv.Itoa(bodyLen) + "\r\n\r\n")
	return blanked
}

func blankText(head string, h http.Header, body []byte, secrets []string) (string, []string) {
	body, names := BlankXML(body)
	var b strings.Builder
	b.WriteString(head + "\r\n")
	names = append(names, headerText(&b, h, len(body))...)
	b.Write(body)
	text, hit := blankKnown(b.String(), secrets)
	if hit {
		names = append(names, "local system account")
	}
	return fixLength(text), names
}

// fixLength sets Content-Length again when blanking known values changed
// the body's length.
func fixLength(text string) string {
	head, body, ok := strings.Cut(text, "\r\n\r\n")
	if !ok {
		return text
	}
	lines := strings.Split(head, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Content-Length: ") {
			lines[i] = "Content-Length: " + strconv.Itoa(len(body))
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

// RequestText is req as recorded: its request line, headers and body, with
// every secret blanked (secrets are values already seen in secret fields).
func RequestText(req *http.Request, body []byte, secrets []string) (string, []string) {
	h := req.Header.Clone()
	if req.Host != "" {
		h.Set("Host", req.Host)
	}
	return blankText(fmt.Sprintf("%s %s %s", req.Method, req.RequestURI, req.Proto), h, body, secrets)
}

// ResponseText is resp as recorded, blanked as RequestText blanks.
func ResponseText(resp *http.Response, body []byte, secrets []string) (string, []string) {
	return blankText(fmt.Sprintf("%s %s", resp.Proto, resp.Status), resp.Header, body, secrets)
}
