package data

// Spec is the `data:` block of a Gauntlet config: where the evaluation data
// lives and how to turn it into float32 samples. It is decoded by viper, so
// every field carries a snake_case mapstructure tag (and the same JSON name,
// for the config digest).
//
// Exactly one of X (NumPy) or CSV must be set.
//
//	x         path to a .npy or .npz file with the inputs. The first axis is
//	          the sample axis N; the rest is the sample shape. dtypes: float32,
//	          float64, uint8, int32, int64; C order only.
//	y         path to a .npy or .npz file with N integer labels: int64, int32,
//	          uint8, or float32/float64 holding integral values; shape [N] or
//	          [N,1]. Optional. When x is a .npz and y is empty, the labels are
//	          read from the same archive (array y_key, else "y" if present).
//	csv       path to a CSV file with a header row (alternative to x/y).
//	label     CSV only: the label column. Integer class ids are used as they
//	          are; any other values are taken as class names, sorted, and
//	          numbered 0..k-1 (Dataset.LabelNames records the names).
//	          For a model that names its classes (a scikit-learn converter's
//	          ZipMap), labels are the model's class labels, mapped to its
//	          class indices (Dataset.MapClassLabels).
//	features  CSV only: the columns fed to the model, in this order.
//	exclude   CSV only, alternative to features: feed every column except the
//	          label, these, and the keep columns (file order). With neither
//	          features nor exclude, every column except label and keep is fed.
//	keep      CSV only: extra columns kept as strings for grouping; a column
//	          a suite names (fairness.sensitive, its counterfactual
//	          attributes, attribute_inference.sensitive) is kept without being
//	          listed here (Also). Keep columns are not
//	          fed unless listed in features.
//	scale     every input value is multiplied by scale. 0 (the default) means
//	          1/255 for uint8 data and 1 for every other dtype and for CSV.
//	x_key     .npz only: the array holding x (default "x", or the only array).
//	y_key     .npz only: the array holding y (default "y", or the only array).
//
// Relative paths are resolved against the directory passed to Load
// (normally the config file's directory).
type Spec struct {
	X        string   `mapstructure:"x" json:"x"`
	Y        string   `mapstructure:"y" json:"y"`
	CSV      string   `mapstructure:"csv" json:"csv"`
	Label    string   `mapstructure:"label" json:"label"`
	Features []string `mapstructure:"features" json:"features"`
	Exclude  []string `mapstructure:"exclude" json:"exclude"`
	Keep     []string `mapstructure:"keep" json:"keep"`
	Scale    float64  `mapstructure:"scale" json:"scale"`
	XKey     string   `mapstructure:"x_key" json:"x_key"`
	YKey     string   `mapstructure:"y_key" json:"y_key"`

	// Also are CSV columns kept as strings because a suite names them (the
	// engine fills it from suite.ColumnUser), as if listed in Keep: not fed
	// unless listed in Features. A missing one is not an error here: the
	// suite that names it reports it, naming its own key.
	Also []string `mapstructure:"-" json:"-"`
}
