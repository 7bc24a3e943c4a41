// Package poisoning implements the poisoning and backdoor suite in three
// parts that are enabled separately:
//
//   - data: poisoned-data detection on a training set through the model's
//     activations (exposed by graph surgery; each class at the layer
//     where its activations split most clearly, or one given layer): spectral
//     signatures (Tran et al. 2018), activation clustering (Chen et al.
//     2018) and SPECTRE (Hayase et al. 2021: robust covariance filter,
//     whitening, QUantum Entropy scores), with precision, recall and the
//     score's AUC against optional ground truth;
//   - model: backdoor scans of the model: STRIP (Gao et al. 2019) and
//     Neural Cleanse (Wang et al. 2019) on white-box gradients, and the
//     attack success rate of a known trigger;
//   - susceptibility: poisoned copies of a training set (BadNets patch,
//     blended trigger, label flipping) at several rates, each trained with
//     the built-in gorgonia trainer (package train) or a user
//     command, and evaluated on clean and triggered data.
//
// Metric names are documented in docs/metrics/poisoning.md.
package poisoning
