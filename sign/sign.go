package sign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Algorithm and Canonicalization name what a Signature holds.
const (
	Algorithm        = "ed25519"
	Canonicalization = "gauntlet-json-v1"
)

// Signature is the detached signature file (<report>.sig), JSON.
type Signature struct {
	Algorithm        string `json:"algorithm"`
	Canonicalization string `json:"canonicalization"`
	// KeyID is the first 16 hex digits of the SHA-256 of the raw public
	// key: it says which key signed, it does not make the key trusted.
	KeyID string `json:"key_id"`
	// ReportSHA256 is the SHA-256 of the canonical report bytes.
	ReportSHA256 string `json:"report_sha256"`
	// Signature is the base64 ed25519 signature of the canonical bytes.
	Signature string `json:"signature"`
}

// ErrBadSignature is returned (wrapped) when a signature does not verify.
var ErrBadSignature = errors.New("signature does not verify")

// Canonical returns the canonical form of a JSON document
// (gauntlet-json-v1): object keys sorted by their UTF-8 bytes, no
// insignificant white space, numbers exactly as written, strings as Go's
// encoding/json writes them with HTML escaping off. Reformatting a report
// (indentation, key order) keeps its signature; changing any value breaks
// it. Duplicate keys are rejected: which one counts would be ambiguous.
func Canonical(doc []byte) ([]byte, error) {
	if err := noDuplicateKeys(doc); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("not JSON: data after the document")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// noDuplicateKeys walks the token stream and rejects an object with a
// repeated key.
func noDuplicateKeys(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // next string token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: true, keys: map[string]bool{}, key: true})
			case '[':
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top != nil && top.obj {
			if top.key {
				k := tok.(string)
				if top.keys[k] {
					return fmt.Errorf("not canonicalizable: key %q appears twice in one object", k)
				}
				top.keys[k] = true
				top.key = false
			} else {
				top.key = true
			}
		}
	}
}

// KeyID returns the key id of a public key.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// Sign signs a JSON report document.
func Sign(doc []byte, key ed25519.PrivateKey) (*Signature, error) {
	c, err := Canonical(doc)
	if err != nil {
		return nil, errs.Invalidf("sign: report %w", err)
	}
	sum := sha256.Sum256(c)
	return &Signature{
		Algorithm:        Algorithm,
		Canonicalization: Canonicalization,
		KeyID:            KeyID(key.Public().(ed25519.PublicKey)),
		ReportSHA256:     hex.EncodeToString(sum[:]),
		Signature:        base64.StdEncoding.EncodeToString(ed25519.Sign(key, c)),
	}, nil
}

// Verify checks sig over doc with pub. A signature that does not verify
// (or was made by another key) wraps ErrBadSignature; a malformed
// signature or report is an errs.Invalid error.
func Verify(doc []byte, sig *Signature, pub ed25519.PublicKey) error {
	if sig.Algorithm != Algorithm {
		return errs.Invalidf("signature algorithm %q, want %q", sig.Algorithm, Algorithm)
	}
	if sig.Canonicalization != Canonicalization {
		return errs.Invalidf("signature canonicalization %q, want %q", sig.Canonicalization, Canonicalization)
	}
	raw, err := base64.StdEncoding.DecodeString(sig.Signature)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return errs.Invalidf("signature: not %d bytes of base64", ed25519.SignatureSize)
	}
	c, err := Canonical(doc)
	if err != nil {
		return errs.Invalidf("verify: report %w", err)
	}
	if id := KeyID(pub); sig.KeyID != id {
		return fmt.Errorf("%w: signed by key %s, the given public key is %s", ErrBadSignature, sig.KeyID, id)
	}
	sum := sha256.Sum256(c)
	if hex.EncodeToString(sum[:]) != sig.ReportSHA256 {
		return fmt.Errorf("%w: the report changed since it was signed (sha256 %s, signed %s)", ErrBadSignature, hex.EncodeToString(sum[:]), sig.ReportSHA256)
	}
	if !ed25519.Verify(pub, c, raw) {
		return fmt.Errorf("%w: ed25519 check failed", ErrBadSignature)
	}
	return nil
}

// ParseSignature reads a signature file.
func ParseSignature(b []byte) (*Signature, error) {
	var s Signature
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, errs.Invalidf("signature file: %w", err)
	}
	return &s, nil
}

// Marshal returns the signature file bytes (indented JSON, newline-ended).
func (s *Signature) Marshal() []byte {
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

// GenerateKey returns a new key pair as PEM: PKCS #8 private, PKIX public.
func GenerateKey(r io.Reader) (priv, pub []byte, err error) {
	if r == nil {
		r = rand.Reader
	}
	pk, sk, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		return nil, nil, err
	}
	px, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px}), nil
}

// ParsePrivateKey reads a private key: PEM PKCS #8, or base64 of a 32-byte
// seed or a 64-byte ed25519 private key. where names the source in errors
// (a file or an environment variable); the key itself is never echoed.
func ParsePrivateKey(b []byte, where string) (ed25519.PrivateKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, errs.Invalidf("private key %s: %w", where, err)
		}
		sk, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, errs.Invalidf("private key %s: a %T, want ed25519", where, k)
		}
		return sk, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, errs.Invalidf("private key %s: neither PEM nor base64", where)
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(raw), nil
	}
	return nil, errs.Invalidf("private key %s: %d bytes, want a 32-byte seed or 64-byte key", where, len(raw))
}

// ParsePublicKey reads a public key: PEM PKIX, or base64 of 32 bytes.
func ParsePublicKey(b []byte, where string) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, errs.Invalidf("public key %s: %w", where, err)
		}
		pk, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errs.Invalidf("public key %s: a %T, want ed25519", where, k)
		}
		return pk, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errs.Invalidf("public key %s: want PEM or base64 of %d bytes", where, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}
