package sign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// RFC 8032 §7.1 TEST 1: the seed and public key of the first ed25519 test
// vector.
const (
	rfcSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	rfcPub  = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)

func rfcKey(t *testing.T) ed25519.PrivateKey {
	seed := mustHex(t, rfcSeed)
	k := ed25519.NewKeyFromSeed(seed)
	if got := k.Public().(ed25519.PublicKey); !bytes.Equal(got, mustHex(t, rfcPub)) {
		t.Fatalf("RFC 8032 public key mismatch")
	}
	return k
}

func mustHex(t *testing.T, s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c-'a') + 10
			}
		}
		b[i] = v
	}
	return b
}

const report = `{
  "schema_version": "1",
  "passed": true,
  "gates": [{"expr": "acc >= 0.9", "value": 0.95}],
  "z": 1e-7, "a": "é <b>"
}`

func TestCanonical(t *testing.T) {
	c, err := Canonical([]byte(report))
	if err != nil {
		t.Fatal(err)
	}
	// Keys sorted, no white space, numbers verbatim, no HTML escaping.
	want := `{"a":"é <b>","gates":[{"expr":"acc >= 0.9","value":0.95}],"passed":true,"schema_version":"1","z":1e-7}`
	if string(c) != want {
		t.Errorf("canonical\n%s\nwant\n%s", c, want)
	}
	if _, err := Canonical([]byte(`{"a":1,"a":2}`)); err == nil {
		t.Errorf("duplicate keys canonicalized")
	}
	if _, err := Canonical([]byte(`{"a":[{"b":1},{"b":2}]}`)); err != nil {
		t.Errorf("equal keys in sibling objects rejected: %v", err)
	}
	if _, err := Canonical([]byte(`{} {}`)); err == nil {
		t.Errorf("two documents canonicalized")
	}
}

func TestSignVerify(t *testing.T) {
	k := rfcKey(t)
	pub := k.Public().(ed25519.PublicKey)
	sig, err := Sign([]byte(report), k)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify([]byte(report), sig, pub); err != nil {
		t.Fatal(err)
	}
	// Re-indented and re-ordered: same canonical bytes, still valid.
	reformatted := `{"a":"é <b>","z":1e-7,"passed":true,"schema_version":"1","gates":[{"value":0.95,"expr":"acc >= 0.9"}]}`
	if err := Verify([]byte(reformatted), sig, pub); err != nil {
		t.Errorf("reformatted report: %v", err)
	}
	// A changed value breaks it.
	tampered := strings.Replace(report, `"passed": true`, `"passed": false`, 1)
	if err := Verify([]byte(tampered), sig, pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered report: %v", err)
	}
	// Another key's signature is not accepted.
	_, other, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err := Verify([]byte(report), sig, other.Public().(ed25519.PublicKey)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other key: %v", err)
	}
	// A forged signature with the right key id and digest fails the check.
	forged := *sig
	raw, _ := base64.StdEncoding.DecodeString(sig.Signature)
	raw[0] ^= 1
	forged.Signature = base64.StdEncoding.EncodeToString(raw)
	if err := Verify([]byte(report), &forged, pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged signature: %v", err)
	}
	// The file round-trips.
	back, err := ParseSignature(sig.Marshal())
	if err != nil || *back != *sig {
		t.Errorf("ParseSignature: %+v, %v", back, err)
	}
	if _, err := ParseSignature([]byte(`{"algorithm":"ed25519","extra":1}`)); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("unknown field: %v", err)
	}
}

func TestKeys(t *testing.T) {
	priv, pub, err := GenerateKey(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(priv, []byte("-----BEGIN PRIVATE KEY-----")) || !bytes.HasPrefix(pub, []byte("-----BEGIN PUBLIC KEY-----")) {
		t.Errorf("PEM headers:\n%s\n%s", priv, pub)
	}
	sk, err := ParsePrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ParsePublicKey(pub, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sk.Public().(ed25519.PublicKey), pk) {
		t.Errorf("PEM pair does not match")
	}
	// Base64 of the RFC 8032 seed and public key.
	k := rfcKey(t)
	sk2, err := ParsePrivateKey([]byte(base64.StdEncoding.EncodeToString(mustHex(t, rfcSeed))+"\n"), "env X")
	if err != nil || !bytes.Equal(sk2, k) {
		t.Errorf("base64 seed: %v", err)
	}
	pk2, err := ParsePublicKey([]byte(base64.StdEncoding.EncodeToString(mustHex(t, rfcPub))), "env Y")
	if err != nil || !bytes.Equal(pk2, k.Public().(ed25519.PublicKey)) {
		t.Errorf("base64 public key: %v", err)
	}
	if _, err := ParsePrivateKey([]byte("c2VjcmV0"), "env SECRET"); err == nil || strings.Contains(err.Error(), "c2VjcmV0") || !strings.Contains(err.Error(), "env SECRET") {
		t.Errorf("bad key error %v must name the source and not echo the key", err)
	}
	// openssl genpkey -algorithm ed25519 output parses (a PKCS #8 PEM).
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "k.pem"), priv, 0o600)
	b, _ := os.ReadFile(filepath.Join(dir, "k.pem"))
	if _, err := ParsePrivateKey(b, "k.pem"); err != nil {
		t.Error(err)
	}
}
