// Package accuracy implements the accuracy suite: clean accuracy, balanced
// accuracy, per-class precision and recall, the confusion matrix, mean
// confidence and expected calibration error, all from the model's own
// predictions on the evaluation data.
package accuracy
