package fairness

import "github.com/gauntlet-ml/gauntlet/groups"

// Attribute is one analysed attribute (groups.Attribute).
type Attribute = groups.Attribute

// Partition splits rows by the sensitive columns (groups.Partition).
type Partition = groups.Partition

// NewPartition encodes the sensitive columns cols (named names, one string
// per row each) with groups.NewPartition. With intersections, the
// intersection of all columns is added as the last attribute. Empty values
// and columns with a single value are errors (exit code 2).
func NewPartition(names []string, cols [][]string, intersections bool) (*Partition, error) {
	return groups.NewPartition("sensitive column", names, cols, intersections)
}
