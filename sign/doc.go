// Package sign makes and checks ed25519 detached signatures over the
// canonical form of a JSON report, so that a release gate can trust a
// report produced elsewhere (a GPU runner) without trusting the runner's
// file transfer. Keys come from files or environment variables, as PEM
// (PKCS #8 private, PKIX public: what `openssl genpkey -algorithm ed25519`
// writes) or as base64 of the raw key. docs/reports.md describes the
// signature file.
package sign
