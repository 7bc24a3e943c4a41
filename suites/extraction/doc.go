// Package extraction is the model-extraction (model stealing) suite: it
// queries the model on a budget of inputs, trains a surrogate on the
// answers with Gauntlet's built-in trainer (package train: an MLP for
// tables, the small CNN for images), and reports, per budget, how closely
// the surrogate copies the model (fidelity: agreement on held-out rows),
// its accuracy against the labels, and how often PGD examples crafted on
// the surrogate (white-box, through package evasion's Craft) fool the
// model (a transfer attack that needs no gradient of the model). It is
// the measure of ART's CopycatCNN; docs/metrics/extraction.md documents
// the metrics and the cross-check.
package extraction
