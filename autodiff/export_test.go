package autodiff

// ForceOffsetRouting makes MaxPool route overlapping windows by kernel
// offsets at every opset (tests compare it with ScatterElements).
var ForceOffsetRouting = &forceOffsetRouting

// NoRecover lets the property test see the builder's panics.
var NoRecover = &noRecover

// DisableBNFusion turns the BatchNorm folding of rules_fuse.go off
// (tests compare it with the plain rules).
var DisableBNFusion = &disableBNFusion
