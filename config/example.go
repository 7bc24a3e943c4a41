package config

// Example is the commented configuration `gauntlet init` prints: every
// top-level block with its common keys and their defaults (docs/config.md
// lists the rest, such as data.scale, data.x_key and data.exclude);
// TestExampleLoads keeps it valid.
const Example = `# Gauntlet run configuration (docs/config.md documents every key).
version: 1

# The deployed model. Relative paths resolve against this file's folder.
model: model.onnx

# One seed for the whole run; each suite and batch derives its own from it,
# so results do not depend on the worker count. Recorded in the report.
seed: 1

runtime:
  device: cpu          # cpu | cuda[:N] | tensorrt[:N] | auto (GPU if it loads, else CPU, recorded)
  batch_size: 256      # samples per ORT call; a model with a fixed batch dimension is padded
  workers: 0           # parallel batches; 0 = automatic (workers × intra_op_threads ≤ cores)
  intra_op_threads: 0  # ORT threads per call; 0 = automatic
  ort_library: ""      # path to libonnxruntime; empty = search (see gauntlet doctor)
  input: ""            # model input to feed; empty = the only input
  output: ""           # model output to read; empty = the first [N, classes] float output
  output_kind: auto    # auto | logits | probabilities
  strict: false        # true: a GPU device that cannot be used is an error even with device: auto
  max_memory: ""       # cap on the tensors in flight (512MiB, 2GB); a batch size above it is refused; empty = none
  timeout: ""          # each suite's time limit (90s, 10m); a suite still running is stopped, timed_out, exit 3

data:
  x: eval_x.npy        # samples: .npy or .npz (float32, float64, uint8 scaled by scale, int64)
  y: eval_y.npy        # integer labels, one per sample
  # x_key: x           # .npz only: the arrays holding x and y
  # y_key: y
  # scale: 0           # inputs are multiplied by scale; 0 = 1/255 for uint8, 1 otherwise
  # csv: eval.csv      # or CSV with a header instead of x/y:
  # label: label       #   the label column
  # features: [f1, f2] #   the model's input columns, in order (or exclude: [...] for all but these)
  # keep: [sex, race]  #   extra columns kept for grouping (fairness)
  range: [0, 1]        # valid input domain; data outside it is an error

suites:
  accuracy:
    bins: 15           # confidence bins for the expected calibration error

# Gates: "<suite>.<metric> <op> <number>", op one of < <= > >= == !=.
gates:
  - "accuracy.accuracy >= 0.9"
  - "accuracy.ece <= 0.05"
  # - "accuracy.accuracy.ci_low >= 0.85"   # statistical gate: the interval's lower bound

# Waivers accept a failed gate until a date, with a reason (docs/reports.md).
# waivers:
#   - gate: "accuracy.ece <= 0.05"
#     until: 2027-01-31
#     reason: "calibration fix lands in January (JIRA-123)"

# Regression gates against a baseline report (run --baseline last.json).
# regressions:
#   - metric: accuracy.accuracy
#     max_drop: 0.02

# Only these model files may run (SHA-256; gauntlet inspect prints it).
# model_allow_sha256: [cf3636e82c161c968cc9ae08738bad2379a650e6cf0a5399952d81a814c4a094]

statistics:
  confidence_level: 0.95  # level of every confidence interval (<metric>.ci_low / .ci_high)

output:
  dir: out             # report.json and the other formats go here
  formats: [json]      # json, junit, sarif, markdown, html, cyclonedx (docs/reports.md)
  # paths: {junit: test-results/gauntlet.xml}   # per-format file, relative to dir
`
