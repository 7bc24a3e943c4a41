package cli

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/sign"
)

// Default environment variables of the signing keys.
const (
	SigningKeyEnv = "GAUNTLET_SIGNING_KEY"
	VerifyKeyEnv  = "GAUNTLET_VERIFY_KEY"
)

// SignOptions are the options of `gauntlet sign` and `gauntlet verify`.
type SignOptions struct {
	// Key is a key file; KeyEnv an environment variable holding the key.
	Key, KeyEnv string
	// Sig is the signature file; <report>.sig when empty.
	Sig string
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
}

func readFile(what, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, errs.Invalidf("%s %s: %w", what, path, err)
	}
	return b, nil
}

// keyBytes returns the key material from --key or the environment.
func (o *SignOptions) keyBytes(defaultEnv string) ([]byte, string, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Key != "" {
		b, err := readFile("key", o.Key)
		return b, o.Key, err
	}
	env := o.KeyEnv
	if env == "" {
		env = defaultEnv
	}
	v := o.Getenv(env)
	if v == "" {
		return nil, "", errs.Invalidf("no key: pass --key FILE or set %s", env)
	}
	return []byte(v), "$" + env, nil
}

func newSignCmd(s Streams) *cobra.Command {
	o := &SignOptions{}
	cmd := &cobra.Command{
		Use:   "sign REPORT.json [--key FILE | --key-env VAR] [--sig FILE]",
		Short: "Sign a JSON report (ed25519, detached)",
		Long: `Write an ed25519 detached signature of a JSON report's canonical form to
REPORT.json.sig (or --sig). The private key is read from --key, or from the
environment variable --key-env (default ` + SigningKeyEnv + `), as PEM (PKCS #8, as
'openssl genpkey -algorithm ed25519' writes) or base64 of the 32-byte seed.
'gauntlet keygen' makes a key pair. See docs/reports.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return Sign(args[0], o, s) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Key, "key", "", "private key file")
	f.StringVar(&o.KeyEnv, "key-env", "", "environment variable holding the private key (default "+SigningKeyEnv+")")
	f.StringVar(&o.Sig, "sig", "", "signature file to write (default REPORT.json.sig, the report path with .sig appended)")
	return cmd
}

// Sign runs `gauntlet sign`.
func Sign(path string, o *SignOptions, s Streams) error {
	kb, where, err := o.keyBytes(SigningKeyEnv)
	if err != nil {
		return err
	}
	key, err := sign.ParsePrivateKey(kb, where)
	if err != nil {
		return err
	}
	doc, err := readFile("report", path)
	if err != nil {
		return err
	}
	sig, err := sign.Sign(doc, key)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out := o.Sig
	if out == "" {
		out = path + ".sig"
	}
	if err := reports.WriteFileAtomic(out, func(w io.Writer) error { _, err := w.Write(sig.Marshal()); return err }); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "signed %s (sha256 %s) with key %s: %s\n", path, sig.ReportSHA256, sig.KeyID, out)
	return nil
}

func newVerifyCmd(s Streams) *cobra.Command {
	o := &SignOptions{}
	cmd := &cobra.Command{
		Use:   "verify REPORT.json [--key PUB | --key-env VAR] [--sig FILE]",
		Short: "Verify a report's detached signature",
		Long: `Check REPORT.json against its signature (REPORT.json.sig or --sig) with a
trusted ed25519 public key from --key, or from the environment variable
--key-env (default ` + VerifyKeyEnv + `), as PEM (PKIX) or base64 of the 32 raw bytes.

Exit codes:
  0    the signature is valid
  1    the signature does not verify: the report changed or another key signed it
  2    a file or key is unreadable or malformed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return Verify(args[0], o, s) },
	}
	f := cmd.Flags()
	f.StringVar(&o.Key, "key", "", "public key file")
	f.StringVar(&o.KeyEnv, "key-env", "", "environment variable holding the public key (default "+VerifyKeyEnv+")")
	f.StringVar(&o.Sig, "sig", "", "signature file (default the report path with .sig appended)")
	return cmd
}

// Verify runs `gauntlet verify`.
func Verify(path string, o *SignOptions, s Streams) error {
	kb, where, err := o.keyBytes(VerifyKeyEnv)
	if err != nil {
		return err
	}
	pub, err := sign.ParsePublicKey(kb, where)
	if err != nil {
		return err
	}
	doc, err := readFile("report", path)
	if err != nil {
		return err
	}
	sigPath := o.Sig
	if sigPath == "" {
		sigPath = path + ".sig"
	}
	sb, err := readFile("signature", sigPath)
	if err != nil {
		return err
	}
	sig, err := sign.ParseSignature(sb)
	if err != nil {
		return fmt.Errorf("%s: %w", sigPath, err)
	}
	if err := sign.Verify(doc, sig, pub); err != nil {
		if errors.Is(err, sign.ErrBadSignature) {
			// Exit 1 is not printed by Main (it means "a gate failed");
			// say why here.
			fmt.Fprintf(s.Err, "gauntlet: %s: %v\n", path, err)
			return errs.WithCode(errs.GateFailed, fmt.Errorf("%s: %w", path, err))
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(s.Out, "valid: %s signed by key %s (sha256 %s)\n", path, sig.KeyID, sig.ReportSHA256)
	return nil
}

func newKeygenCmd(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen PREFIX",
		Short: "Make an ed25519 key pair for sign and verify",
		Long: `Write a new ed25519 key pair as PREFIX.key (PKCS #8 PEM, mode 0600) and
PREFIX.pub (PKIX PEM). Keep the private key in your CI's secret store and
pass it to gauntlet sign through ` + SigningKeyEnv + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			priv, pub, err := sign.GenerateKey(nil)
			if err != nil {
				return err
			}
			if err := os.WriteFile(args[0]+".key", priv, 0o600); err != nil {
				return errs.Invalidf("keygen: %w", err)
			}
			if err := os.WriteFile(args[0]+".pub", pub, 0o644); err != nil {
				return errs.Invalidf("keygen: %w", err)
			}
			pk, _ := sign.ParsePublicKey(pub, args[0]+".pub")
			fmt.Fprintf(s.Out, "wrote %s.key and %s.pub (key id %s)\n", args[0], args[0], sign.KeyID(ed25519.PublicKey(pk)))
			return nil
		},
	}
}
