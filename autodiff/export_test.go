package autodiff

// ForceOffsetRouting makes MaxPool route overlapping windows by kernel
// offsets at every opset (tests compare it with ScatterElements).
var ForceOffsetRouting = &forceOffsetRouting

// NoRecover lets the property test see the builder's panics.
var NoRecover = &noRecover
